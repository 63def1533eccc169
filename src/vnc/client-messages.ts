// The browser-to-server half of an RFB session after the handshake, cut into messages so a
// read-only (spy) client's input can be dropped. Pure: bytes in, the bytes to forward out.
import { ClientMessage, QemuMessage } from './constants.js';
import { vncErrors } from './errors.js';

/**
 * The full length of the message that starts `buf`, or undefined while its header is incomplete.
 * Throws for a type it does not know: the length of an unknown message cannot be known, and
 * guessing would let input slip through.
 */
export function clientMessageLength(buf: Buffer): number | undefined {
  const need = (n: number) => buf.length >= n;
  switch (buf[0]) {
    case ClientMessage.SetPixelFormat: return 20;
    case ClientMessage.SetEncodings: return need(4) ? 4 + 4 * buf.readUInt16BE(2) : undefined;
    case ClientMessage.FramebufferUpdateRequest: return 10;
    case ClientMessage.KeyEvent: return 8;
    case ClientMessage.PointerEvent: return 6;
    // With the Extended Clipboard extension the length is negative (a signed 32-bit number).
    case ClientMessage.ClientCutText: return need(8) ? 8 + Math.abs(buf.readInt32BE(4)) : undefined;
    case ClientMessage.EnableContinuousUpdates: return 10;
    case ClientMessage.ClientFence: return need(9) ? 9 + buf[8] : undefined;
    case ClientMessage.Xvp: return 4;
    case ClientMessage.SetDesktopSize: return need(8) ? 8 + 16 * buf[6] : undefined;
    case ClientMessage.Qemu:
      if (!need(2)) return undefined;
      if (buf[1] === QemuMessage.ExtendedKeyEvent) return 12;
      if (buf[1] === QemuMessage.Audio) return need(4) ? (buf.readUInt16BE(2) === 2 ? 10 : 4) : undefined;
      throw vncErrors.CLIENT_PROTOCOL(`unknown QEMU message ${buf[1]}`);
    default:
      throw vncErrors.CLIENT_PROTOCOL(`unknown message type ${buf[0]}`);
  }
}

/**
 * What a read-only client may not send: input (keys, pointer, QEMU keys), clipboard, a resize of
 * the remote screen, and xvp's shutdown/reboot/reset.
 */
const WRITES = new Set<number>([
  ClientMessage.KeyEvent,
  ClientMessage.PointerEvent,
  ClientMessage.ClientCutText,
  ClientMessage.Xvp,
  ClientMessage.SetDesktopSize,
]);

export function isWrite(header: Buffer): boolean {
  return WRITES.has(header[0]) || (header[0] === ClientMessage.Qemu && header[1] === QemuMessage.ExtendedKeyEvent);
}

/**
 * Streams a read-only client's messages through, without the ones that would change the
 * server. A message's body passes (or is skipped) as it arrives; only a header still too short
 * to size (a few bytes) is held back.
 */
export class ReadOnlyFilter {
  /** Messages dropped so far. */
  dropped = 0;
  private head: Buffer = Buffer.alloc(0);
  /** Bytes of the current message still to come, and whether they go through. */
  private left = 0;
  private pass = true;

  /** The part of `data` to forward to the server; throws VNC_CLIENT_PROTOCOL on an unknown message. */
  push(data: Buffer): Buffer {
    let buf = this.head.length ? Buffer.concat([this.head, data]) : data;
    this.head = Buffer.alloc(0);
    const out: Buffer[] = [];
    while (buf.length) {
      if (this.left === 0) {
        const length = clientMessageLength(buf);
        if (length === undefined) {
          this.head = Buffer.from(buf);
          break;
        }
        this.left = length;
        this.pass = !isWrite(buf);
        if (!this.pass) this.dropped++;
      }
      const n = Math.min(this.left, buf.length);
      if (this.pass) out.push(buf.subarray(0, n));
      this.left -= n;
      buf = buf.subarray(n);
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}
