// Inbound session sequence numbers (IPMI v2.0 section 6.12.13): a packet whose number was already
// seen, or that is more than 32 behind the newest, is a replay (or a stale duplicate) and is dropped.

const WINDOW = 32;

export class ReplayWindow {
  private top = 0;
  /** Bit n set: sequence number top - n was seen. */
  private seen = 0;
  private started = false;

  /** Whether a packet with this session sequence number may be taken; records it if so. */
  accept(sequence: number): boolean {
    const seq = sequence >>> 0;
    if (!this.started) {
      this.started = true;
      this.top = seq;
      this.seen = 1;
      return true;
    }
    const ahead = (seq - this.top) >>> 0; // modulo 2^32, so the counter may wrap
    if (ahead !== 0 && ahead < 0x8000_0000) {
      this.seen = ahead >= WINDOW ? 1 : ((this.seen << ahead) | 1) >>> 0;
      this.top = seq;
      return true;
    }
    const behind = (this.top - seq) >>> 0;
    if (behind >= WINDOW) return false;
    const bit = (1 << behind) >>> 0;
    if ((this.seen & bit) !== 0) return false;
    this.seen = (this.seen | bit) >>> 0;
    return true;
  }
}
