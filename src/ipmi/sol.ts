// Serial over LAN (IPMI v2.0 chapters 15 and 24): the payload commands and the SOL data packet as
// pure build/parse functions, and SolConsole, one activated SOL instance riding on a session:
// every inbound packet acknowledged once and shown once, one outbound packet in flight at a
// time (retransmitted, resent in part when the BMC takes only some characters), BREAK, and flow
// control by holding back acknowledgements.
import { EventEmitter } from 'node:events';
import {
  ACTIVATE_PAYLOAD_CC,
  ACTIVATE_PAYLOAD_CC_TEXT,
  CMD,
  DEACTIVATE_PAYLOAD_NOT_ACTIVE,
  NETFN,
  PAYLOAD,
  SOL_AUX,
  SOL_HEADER_LENGTH,
  SOL_MAX_SEQUENCE,
  SOL_OP,
  SOL_STATUS,
} from './constants.js';
import { IpmiError, ipmiErrors } from './errors.js';
import type { IpmiResponse } from './packets.js';

// --- packets ------------------------------------------------------------------------------

export interface SolPacket {
  /** 1..15; 0 = the packet carries no characters (ack or status only). */
  sequence: number;
  /** The packet being acknowledged; 0 = none. */
  ackSequence: number;
  /** Characters taken from the acknowledged packet. */
  acceptedCount: number;
  /** Operation bits (console to BMC, SOL_OP) or status bits (BMC to console, SOL_STATUS). */
  flags: number;
  data: Buffer;
}

/** SOL payload (table 15-2): sequence, ack sequence, accepted count, operation/status, characters. */
export function buildSolPacket(p: Partial<SolPacket>): Buffer {
  const sequence = p.sequence ?? 0;
  const ack = p.ackSequence ?? 0;
  const accepted = p.acceptedCount ?? 0;
  if (!isSequence(sequence) || !isSequence(ack)) throw ipmiErrors.BAD_ARGUMENT('SOL sequence numbers are 0..15');
  if (!Number.isInteger(accepted) || accepted < 0 || accepted > 0xff) throw ipmiErrors.BAD_ARGUMENT('SOL accepted character count is 0..255');
  return Buffer.concat([Buffer.from([sequence, ack, accepted, (p.flags ?? 0) & 0xff]), p.data ?? Buffer.alloc(0)]);
}

export function parseSolPacket(b: Buffer): SolPacket {
  if (b.length < SOL_HEADER_LENGTH) throw ipmiErrors.MALFORMED(`SOL packet (${b.length} bytes)`);
  return { sequence: b[0]! & 0x0f, ackSequence: b[1]! & 0x0f, acceptedCount: b[2]!, flags: b[3]!, data: Buffer.from(b.subarray(SOL_HEADER_LENGTH)) };
}

function isSequence(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= SOL_MAX_SEQUENCE;
}

function nextSequence(n: number): number {
  return (n % SOL_MAX_SEQUENCE) + 1;
}

function checkInstance(instance: number): void {
  if (!Number.isInteger(instance) || instance < 1 || instance > 15) throw ipmiErrors.BAD_ARGUMENT(`SOL instance must be 1..15, not ${instance}`);
}

/**
 * Encrypted and authenticated (as ipmitool asks), serial alerts deferred, and the BMC asserts
 * CTS/DCD/DSR at activation: with DEASSERT_HANDSHAKE set (ipmitool's 0xc6) a strict BMC would
 * hold the host's output until we send a packet asserting them.
 */
export const SOL_ACTIVATE_AUX = SOL_AUX.ENCRYPT | SOL_AUX.AUTHENTICATE | SOL_AUX.ALERTS_DEFERRED;

/** Activate Payload request data (table 24-2). */
export function buildActivatePayload(instance: number, aux = SOL_ACTIVATE_AUX): Buffer {
  checkInstance(instance);
  return Buffer.from([PAYLOAD.SOL, instance, aux, 0x00, 0x00, 0x00]);
}

export interface SolActivation {
  /** Auxiliary response data (test mode bit for SOL). */
  aux: number;
  /** Largest SOL payload, header included, the BMC takes from us. */
  inboundPayloadSize: number;
  /** Largest SOL payload the BMC sends us. */
  outboundPayloadSize: number;
  /** UDP port the BMC wants SOL packets on. */
  port: number;
  /** 0xffff = no VLAN. */
  vlan: number;
}

/** Activate Payload response data after the completion code (table 24-2); sizes and port are LS-byte first. */
export function parseActivatePayloadResponse(d: Buffer): SolActivation {
  if (d.length < 10) throw ipmiErrors.MALFORMED(`Activate Payload response (${d.length} bytes)`);
  return {
    aux: d.readUInt32LE(0),
    inboundPayloadSize: d.readUInt16LE(4),
    outboundPayloadSize: d.readUInt16LE(6),
    port: d.readUInt16LE(8),
    vlan: d.length >= 12 ? d.readUInt16LE(10) : 0xffff,
  };
}

/** Deactivate Payload request data (table 24-3). */
export function buildDeactivatePayload(instance: number): Buffer {
  checkInstance(instance);
  return Buffer.from([PAYLOAD.SOL, instance, 0x00, 0x00, 0x00, 0x00]);
}

export interface PayloadActivationStatus {
  /** How many instances of the payload the BMC supports at once. */
  capacity: number;
  /** The instances active now (1..16). */
  active: number[];
}

/** Get Payload Activation Status response data (table 24-4): capacity, then a bitmap of instances. */
export function parsePayloadActivationStatus(d: Buffer): PayloadActivationStatus {
  if (d.length < 3) throw ipmiErrors.MALFORMED(`Get Payload Activation Status response (${d.length} bytes)`);
  const active: number[] = [];
  for (let i = 0; i < 16; i++) if (d[1 + (i >> 3)]! & (1 << (i & 7))) active.push(i + 1);
  return { capacity: d[0]! & 0x0f, active };
}

/** Get Payload Instance Info response data (table 24-5): the session holding the instance (0 = none). */
export function parsePayloadInstanceInfo(d: Buffer): { sessionId: number; portNumber: number } {
  if (d.length < 5) throw ipmiErrors.MALFORMED(`Get Payload Instance Info response (${d.length} bytes)`);
  return { sessionId: d.readUInt32LE(0), portNumber: d[4]! };
}

// --- the session SOL rides on -------------------------------------------------------------

/** What SOL needs from an RMCP+ session: IpmiSession is one. */
export interface PayloadCarrier {
  readonly bmc: string;
  readonly port: number;
  readonly bmcSessionId: number;
  requestRaw(netFn: number, cmd: number, data: Buffer, action: string): Promise<IpmiResponse>;
  sendPayload(payloadType: number, data: Buffer): Promise<void>;
  onPayload(payloadType: number, handler: (payload: Buffer) => void): () => void;
  on(event: 'close', listener: (reason: unknown) => void): unknown;
  off(event: 'close', listener: (reason: unknown) => void): unknown;
}

export async function getSolActivationStatus(s: PayloadCarrier): Promise<PayloadActivationStatus> {
  const res = await s.requestRaw(NETFN.APP, CMD.GET_PAYLOAD_ACTIVATION_STATUS, Buffer.from([PAYLOAD.SOL]), 'Get Payload Activation Status (SOL)');
  if (res.completionCode !== 0) throw ipmiErrors.COMPLETION(s.bmc, 'Get Payload Activation Status (SOL)', res.completionCode);
  return parsePayloadActivationStatus(res.data);
}

/**
 * Deactivate an SOL instance whoever holds it, as `ipmitool sol deactivate` does. Resolves with
 * whether it was active.
 */
export async function deactivateSol(s: PayloadCarrier, instance = 1): Promise<boolean> {
  const action = `Deactivate Payload (SOL instance ${instance})`;
  const res = await s.requestRaw(NETFN.APP, CMD.DEACTIVATE_PAYLOAD, buildDeactivatePayload(instance), action);
  if (res.completionCode === 0) return true;
  if (res.completionCode === DEACTIVATE_PAYLOAD_NOT_ACTIVE) return false;
  throw ipmiErrors.COMPLETION(s.bmc, action, res.completionCode);
}

// --- the console ----------------------------------------------------------------------------

export interface SolConsoleOptions {
  /** Default 1. */
  instance?: number;
  /** When another session holds the instance, deactivate it first (as `ipmitool sol deactivate`). */
  takeOver?: boolean;
  /** Wait this long for the BMC to acknowledge a packet before sending it again. Default 1000 ms. */
  retransmitMs?: number;
  /** Sends after the first before the console is declared dead. Default 4. */
  retries?: number;
  /** Ask the BMC this often whether the instance is still ours (and the BMC still there); 0 = never. */
  watchMs?: number;
}

type Outbound =
  | { kind: 'data'; data: Buffer }
  | { kind: 'break'; resolve(): void; reject(err: Error): void }
  /** The empty first packet after activation (see start()). */
  | { kind: 'sync' };

interface InFlight {
  sequence: number;
  item: Outbound;
  chars: Buffer;
  payload: Buffer;
  tries: number;
  timer?: NodeJS.Timeout;
}

/** Characters per packet when the BMC names no usable inbound payload size. */
const FALLBACK_MAX_CHARS = 64;

/**
 * Events: 'data' (Buffer) console output, each character once; 'close' (reason: IpmiError, or
 * 'deactivated' after deactivate()) once; 'packet' (SolPacket) every inbound SOL packet, for
 * diagnostics.
 */
export class SolConsole extends EventEmitter {
  readonly instance: number;
  activation?: SolActivation;
  /** Characters per outbound packet, from the BMC's inbound payload size. */
  maxChars = FALLBACK_MAX_CHARS;
  readonly stats = { packetsIn: 0, duplicatesIn: 0, packetsOut: 0, retransmits: 0 };
  private state: 'activating' | 'active' | 'closed' = 'activating';
  private readonly queue: Outbound[] = [];
  private inFlight?: InFlight;
  private outSequence = 1;
  /** The last inbound data packet delivered and acknowledged, to spot its retransmissions. */
  private lastIn = { sequence: 0, length: 0 };
  /** Data packets received while paused: neither shown nor acknowledged yet. */
  private held: SolPacket[] = [];
  private paused = false;
  private backoff?: NodeJS.Timeout;
  private watchTimer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private readonly retransmitMs: number;
  private readonly retries: number;

  private constructor(private readonly session: PayloadCarrier, private readonly opts: SolConsoleOptions) {
    super();
    this.instance = opts.instance ?? 1;
    checkInstance(this.instance);
    this.retransmitMs = opts.retransmitMs ?? 1000;
    this.retries = opts.retries ?? 4;
  }

  /** Activate SOL on the session; rejects with IPMI_SOL_BUSY when another session holds it (unless takeOver). */
  static async activate(session: PayloadCarrier, opts: SolConsoleOptions = {}): Promise<SolConsole> {
    const sol = new SolConsole(session, opts);
    await sol.start();
    return sol;
  }

  get active(): boolean {
    return this.state === 'active';
  }

  /** Queue characters for the host's serial port; they go out in order, one packet at a time. */
  write(data: Buffer): void {
    if (this.state === 'closed' || data.length === 0) return;
    this.queue.push({ kind: 'data', data: Buffer.from(data) });
    this.pump();
  }

  /** A BREAK on the host's serial line; resolves when the BMC has acknowledged it. */
  sendBreak(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(ipmiErrors.SOL_DEACTIVATED(this.session.bmc, 'the console is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'break', resolve, reject });
      this.pump();
    });
  }

  /** Stop taking output: the BMC keeps it (and retransmits) until resume() acknowledges it. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const pkt of held) this.deliver(pkt);
  }

  /** Deactivate the payload (best effort: the BMC may be gone) and stop; emits 'close' ('deactivated'). */
  async deactivate(): Promise<void> {
    if (this.state === 'closed') return;
    const wasActive = this.state === 'active';
    this.stop(ipmiErrors.SOL_DEACTIVATED(this.session.bmc, 'the console was closed'));
    if (wasActive) await deactivateSol(this.session, this.instance).catch(() => undefined);
    this.emit('close', 'deactivated');
  }

  private async start(): Promise<void> {
    const s = this.session;
    this.unsubscribe = s.onPayload(PAYLOAD.SOL, (payload) => this.receive(payload));
    s.on('close', this.onSessionClose);
    try {
      let res = await this.requestActivate();
      if (res.completionCode === ACTIVATE_PAYLOAD_CC.ALREADY_ACTIVE && this.opts.takeOver) {
        await deactivateSol(s, this.instance);
        res = await this.requestActivate();
      }
      if (res.completionCode === ACTIVATE_PAYLOAD_CC.ALREADY_ACTIVE) throw ipmiErrors.SOL_BUSY(s.bmc, this.instance);
      if (res.completionCode in ACTIVATE_PAYLOAD_CC_TEXT) throw ipmiErrors.SOL_REFUSED(s.bmc, res.completionCode);
      if (res.completionCode !== 0) throw ipmiErrors.COMPLETION(s.bmc, `Activate Payload (SOL instance ${this.instance})`, res.completionCode);
      const a = parseActivatePayloadResponse(res.data);
      // Some BMCs send the port byte-swapped (ipmitool and pyghmi accept both orders).
      if (a.port !== s.port && ((a.port >> 8) | ((a.port & 0xff) << 8)) !== s.port) {
        await deactivateSol(s, this.instance).catch(() => undefined);
        throw ipmiErrors.SOL_PORT(s.bmc, a.port);
      }
      this.activation = a;
      // Like ipmitool, read the inbound size as the whole SOL payload, its 4-byte header included.
      if (a.inboundPayloadSize > SOL_HEADER_LENGTH) this.maxChars = Math.min(0xff, a.inboundPayloadSize - SOL_HEADER_LENGTH);
    } catch (err) {
      this.stop(err as Error);
      throw err;
    }
    // ipmi_sim (2.0.33) keeps the sequence number of the last packet it took across sessions and
    // would take a first packet that happens to carry the same number for a retransmission, acking
    // characters it threw away. An empty packet first moves its notion on at no cost.
    this.queue.unshift({ kind: 'sync' });
    this.state = 'active';
    this.armWatch();
    this.pump();
  }

  private requestActivate(): Promise<IpmiResponse> {
    return this.session.requestRaw(NETFN.APP, CMD.ACTIVATE_PAYLOAD, buildActivatePayload(this.instance), `Activate Payload (SOL instance ${this.instance})`);
  }

  private readonly onSessionClose = (reason: unknown) => {
    this.fail(reason instanceof IpmiError ? reason : ipmiErrors.SOL_DEACTIVATED(this.session.bmc, 'the IPMI session was closed'));
  };

  private receive(payload: Buffer): void {
    if (this.state === 'closed') return;
    let pkt: SolPacket;
    try {
      pkt = parseSolPacket(payload);
    } catch {
      return;
    }
    this.stats.packetsIn++;
    if (pkt.sequence !== 0) this.received(pkt);
    if (pkt.ackSequence !== 0 && this.inFlight?.sequence === pkt.ackSequence) this.acknowledged(pkt);
    else if (this.backoff && pkt.ackSequence !== 0 && !(pkt.flags & SOL_STATUS.NACK)) {
      // The BMC says it has room again (ipmi_sim repeats its last ack when its buffer drains).
      clearTimeout(this.backoff);
      this.backoff = undefined;
      this.pump();
    }
    this.emit('packet', pkt);
    if (pkt.flags & SOL_STATUS.DEACTIVATING) this.fail(ipmiErrors.SOL_DEACTIVATED(this.session.bmc, 'by the BMC'));
  }

  /** An inbound data packet: new, or a retransmission of one we already have. */
  private received(pkt: SolPacket): void {
    const lastHeld = this.held[this.held.length - 1];
    if (lastHeld && lastHeld.sequence === pkt.sequence) {
      this.stats.duplicatesIn++;
      if (pkt.data.length > lastHeld.data.length) this.held[this.held.length - 1] = pkt;
      return;
    }
    if (pkt.sequence === this.lastIn.sequence) {
      // Our ack was lost or late. A retransmission may carry more characters than the first try.
      this.stats.duplicatesIn++;
      if (pkt.data.length > this.lastIn.length) {
        this.emit('data', pkt.data.subarray(this.lastIn.length));
        this.lastIn.length = pkt.data.length;
      }
      this.sendAck(pkt.sequence, this.lastIn.length);
      return;
    }
    if (this.paused) this.held.push(pkt);
    else this.deliver(pkt);
  }

  private deliver(pkt: SolPacket): void {
    this.lastIn = { sequence: pkt.sequence, length: pkt.data.length };
    if (pkt.data.length > 0) this.emit('data', pkt.data);
    this.sendAck(pkt.sequence, pkt.data.length);
  }

  private sendAck(sequence: number, accepted: number): void {
    this.send(buildSolPacket({ ackSequence: sequence, acceptedCount: Math.min(accepted, 0xff) }));
  }

  private send(payload: Buffer): void {
    this.stats.packetsOut++;
    // A failed send counts as a lost packet: retransmission or the session's own 'close' follows.
    this.session.sendPayload(PAYLOAD.SOL, payload).catch(() => undefined);
  }

  /** The BMC answered our packet in flight: all of it taken, or some, or (NACK) none for now. */
  private acknowledged(pkt: SolPacket): void {
    const f = this.inFlight!;
    clearTimeout(f.timer);
    this.inFlight = undefined;
    if (f.item.kind === 'break') {
      f.item.resolve();
    } else if (f.item.kind === 'data') {
      const accepted = Math.min(pkt.acceptedCount, f.chars.length);
      if (accepted < f.chars.length) {
        // The rest goes in a new packet: a repeated sequence number would read as a retransmission.
        this.queue.unshift({ kind: 'data', data: f.chars.subarray(accepted) });
        if (accepted === 0 || pkt.flags & SOL_STATUS.NACK) {
          // The BMC's buffer is full: give it time instead of bouncing packets off it.
          this.backoff = setTimeout(() => {
            this.backoff = undefined;
            this.pump();
          }, this.retransmitMs);
          return;
        }
      }
    }
    this.pump();
  }

  /** Send the next packet if none is in flight: a BREAK, or up to maxChars queued characters. */
  private pump(): void {
    if (this.state !== 'active' || this.inFlight || this.backoff) return;
    const item = this.queue.shift();
    if (!item) return;
    let chars: Buffer = Buffer.alloc(0);
    let flags = 0;
    if (item.kind === 'break') flags = SOL_OP.BREAK;
    else if (item.kind === 'data') {
      const parts = [item.data];
      let length = item.data.length;
      for (let next = this.queue[0]; length < this.maxChars && next?.kind === 'data'; next = this.queue[0]) {
        parts.push(next.data);
        length += next.data.length;
        this.queue.shift();
      }
      chars = parts.length === 1 ? item.data : Buffer.concat(parts, length);
      if (chars.length > this.maxChars) {
        this.queue.unshift({ kind: 'data', data: chars.subarray(this.maxChars) });
        chars = chars.subarray(0, this.maxChars);
      }
    }
    const sequence = this.outSequence;
    this.outSequence = nextSequence(sequence);
    this.inFlight = { sequence, item, chars, payload: buildSolPacket({ sequence, flags, data: chars }), tries: 0 };
    this.transmit();
  }

  private transmit(): void {
    const f = this.inFlight;
    if (!f) return;
    if (f.tries > this.retries) {
      if (f.item.kind === 'sync') {
        // A BMC that does not ack empty packets has nothing to move on either.
        this.inFlight = undefined;
        this.pump();
        return;
      }
      this.fail(ipmiErrors.SOL_TIMEOUT(this.session.bmc, f.tries, f.tries * this.retransmitMs));
      return;
    }
    if (f.tries > 0) this.stats.retransmits++;
    f.tries++;
    this.send(f.payload);
    f.timer = setTimeout(() => this.transmit(), this.retransmitMs);
  }

  /** Poll Get Payload Instance Info: notices another session taking over, and a BMC gone silent. */
  private armWatch(): void {
    const every = this.opts.watchMs ?? 0;
    if (!every || this.state !== 'active') return;
    this.watchTimer = setTimeout(() => void this.watch(), every);
    this.watchTimer.unref();
  }

  private async watch(): Promise<void> {
    let res: IpmiResponse;
    try {
      res = await this.session.requestRaw(NETFN.APP, CMD.GET_PAYLOAD_INSTANCE_INFO, Buffer.from([PAYLOAD.SOL, this.instance]), 'SOL watch (Get Payload Instance Info)');
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.state !== 'active') return;
    // A BMC without the command still answered: it is alive, and that is all we learn.
    if (res.completionCode === 0 && res.data.length >= 5) {
      const owner = parsePayloadInstanceInfo(res.data).sessionId;
      if (owner !== this.session.bmcSessionId) {
        this.fail(ipmiErrors.SOL_DEACTIVATED(this.session.bmc, owner === 0 ? 'no session holds the payload any more' : 'taken over by another session'));
        return;
      }
    }
    this.armWatch();
  }

  private fail(err: Error): void {
    if (this.state === 'closed') return;
    this.stop(err);
    this.emit('close', err);
  }

  /** Leave the session and settle what is pending; emitting 'close' is the caller's. */
  private stop(err: Error): void {
    this.state = 'closed';
    clearTimeout(this.backoff);
    clearTimeout(this.watchTimer);
    clearTimeout(this.inFlight?.timer);
    const pending = [...(this.inFlight ? [this.inFlight.item] : []), ...this.queue];
    this.inFlight = undefined;
    this.queue.length = 0;
    this.held = [];
    for (const item of pending) if (item.kind === 'break') item.reject(err);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.session.off('close', this.onSessionClose);
  }
}
