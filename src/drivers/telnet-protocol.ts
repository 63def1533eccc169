// Telnet (RFC 854) for a console client, as pure code over Buffers: a parser that splits the
// stream into data and commands, the option negotiation a console needs, and byte builders.
// No sockets here: drivers/telnet.ts wires it to one.

export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const GA = 249;
export const NOP = 241;
export const BRK = 243;
export const SE = 240;

export const BINARY = 0; // RFC 856
export const ECHO = 1; // RFC 857
export const SGA = 3; // RFC 858, suppress go-ahead
export const TTYPE = 24; // RFC 1091, terminal type
export const NAWS = 31; // RFC 1073, window size

const TTYPE_IS = 0;
const TTYPE_SEND = 1;
const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;

const OPTION_NAMES: Record<number, string> = { [BINARY]: 'binary', [ECHO]: 'echo', [SGA]: 'sga', [TTYPE]: 'ttype', [NAWS]: 'naws' };

export type Verb = typeof WILL | typeof WONT | typeof DO | typeof DONT;

export type TelnetEvent =
  | { type: 'data'; data: Buffer }
  | { type: 'command'; command: number }
  | { type: 'negotiate'; verb: Verb; option: number }
  | { type: 'subnegotiation'; option: number; data: Buffer };

// --- builders ------------------------------------------------------------------------------

/** IAC <verb> <option> */
export function negotiation(verb: Verb, option: number): Buffer {
  return Buffer.from([IAC, verb, option]);
}

/** IAC <command>, e.g. command(BRK). */
export function command(cmd: number): Buffer {
  return Buffer.from([IAC, cmd]);
}

/** Data with every IAC byte doubled, so the peer reads it as data. */
export function escapeIac(data: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.indexOf(IAC) < 0) return buf;
  const out = Buffer.allocUnsafe(buf.length * 2);
  let n = 0;
  for (const b of buf) {
    out[n++] = b;
    if (b === IAC) out[n++] = IAC;
  }
  return out.subarray(0, n);
}

/** IAC SB <option> <payload, IAC doubled> IAC SE */
export function subnegotiation(option: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([IAC, SB, option]), escapeIac(payload), Buffer.from([IAC, SE])]);
}

/** The window size (RFC 1073): width and height as 16-bit big-endian numbers. */
export function nawsSubnegotiation(cols: number, rows: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt16BE(clamp16(cols), 0);
  size.writeUInt16BE(clamp16(rows), 2);
  return subnegotiation(NAWS, size);
}

/** The answer to TTYPE SEND (RFC 1091): IS <terminal type>. */
export function ttypeIs(term: string): Buffer {
  return subnegotiation(TTYPE, Buffer.concat([Buffer.from([TTYPE_IS]), Buffer.from(term, 'latin1')]));
}

function clamp16(n: number): number {
  return Math.max(0, Math.min(0xffff, Math.trunc(n)));
}

// --- parser --------------------------------------------------------------------------------

const S_DATA = 0;
const S_IAC = 1;
const S_VERB = 2;
const S_SB_OPTION = 3;
const S_SB_DATA = 4;
const S_SB_IAC = 5;

/** Longer subnegotiations are cut here: nothing a console client reads is near this size. */
export const MAX_SUBNEGOTIATION = 1024;

/**
 * Splits a telnet byte stream into events. A command or subnegotiation may be cut anywhere by
 * the chunking; the parser keeps its place between feeds. Data events are views of the chunk.
 */
export class TelnetParser {
  private state = S_DATA;
  private verb: Verb = WILL;
  private sbOption = 0;
  private sb: number[] = [];

  feed(chunk: Buffer): TelnetEvent[] {
    const events: TelnetEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case S_DATA: {
          const at = chunk.indexOf(IAC, i);
          const end = at < 0 ? chunk.length : at;
          if (end > i) events.push({ type: 'data', data: chunk.subarray(i, end) });
          i = end + 1;
          if (at >= 0) this.state = S_IAC;
          break;
        }
        case S_IAC: {
          const b = chunk[i++];
          if (b === IAC) {
            events.push({ type: 'data', data: chunk.subarray(i - 1, i) });
            this.state = S_DATA;
          } else if (b >= WILL) {
            this.verb = b as Verb;
            this.state = S_VERB;
          } else if (b === SB) {
            this.state = S_SB_OPTION;
          } else {
            events.push({ type: 'command', command: b });
            this.state = S_DATA;
          }
          break;
        }
        case S_VERB:
          events.push({ type: 'negotiate', verb: this.verb, option: chunk[i++] });
          this.state = S_DATA;
          break;
        case S_SB_OPTION:
          this.sbOption = chunk[i++];
          this.sb = [];
          this.state = S_SB_DATA;
          break;
        case S_SB_DATA: {
          const b = chunk[i++];
          if (b === IAC) this.state = S_SB_IAC;
          else if (this.sb.length < MAX_SUBNEGOTIATION) this.sb.push(b);
          break;
        }
        case S_SB_IAC: {
          const b = chunk[i++];
          if (b === IAC) {
            if (this.sb.length < MAX_SUBNEGOTIATION) this.sb.push(IAC);
            this.state = S_SB_DATA;
          } else if (b === SE) {
            events.push({ type: 'subnegotiation', option: this.sbOption, data: Buffer.from(this.sb) });
            this.sb = [];
            this.state = S_DATA;
          } else {
            // A command inside a subnegotiation: the peer broke off; drop it and take the command.
            this.sb = [];
            this.state = S_IAC;
            i--;
          }
          break;
        }
      }
    }
    return events;
  }
}

// --- a console client's side of the protocol -----------------------------------------------

/** What we let the server turn on for its side (it says WILL, we say DO). */
const REMOTE_ACCEPTED = new Set([BINARY, ECHO, SGA]);
/** What we turn on for our side when the server asks (it says DO, we say WILL). */
const LOCAL_ACCEPTED = new Set([BINARY, SGA, NAWS, TTYPE]);

export interface TelnetClientOptions {
  term: string;
  cols: number;
  rows: number;
}

/**
 * The client end of a telnet connection, fed what the server sent and asked to encode what the
 * user typed. Negotiation follows RFC 1143's rule that keeps peers from looping: answer only a
 * request that changes an option's state. We never start a negotiation; the server leads.
 */
export class TelnetClientProtocol {
  private readonly parser = new TelnetParser();
  /** Options in effect on our side and on the server's side. */
  private readonly local = new Set<number>();
  private readonly remote = new Set<number>();
  /** The last data byte from a non-binary server was CR, so a NUL after it is padding. */
  private afterCr = false;
  private cols: number;
  private rows: number;

  constructor(private readonly opts: TelnetClientOptions) {
    this.cols = opts.cols;
    this.rows = opts.rows;
  }

  /** Bytes from the server: the console output in them, and what to send back right away. */
  receive(chunk: Buffer): { data: Buffer; reply: Buffer } {
    const data: Buffer[] = [];
    const reply: Buffer[] = [];
    for (const ev of this.parser.feed(chunk)) {
      switch (ev.type) {
        case 'data':
          data.push(this.remote.has(BINARY) ? ev.data : this.fromNvt(ev.data));
          break;
        case 'negotiate': {
          const answer = this.negotiate(ev.verb, ev.option);
          if (answer) reply.push(answer);
          break;
        }
        case 'subnegotiation':
          if (ev.option === TTYPE && ev.data[0] === TTYPE_SEND && this.local.has(TTYPE)) reply.push(ttypeIs(this.opts.term));
          break;
        case 'command':
          break; // GA, NOP, DM, AYT...: nothing a console shows
      }
    }
    return { data: joined(data), reply: joined(reply) };
  }

  /** What the user typed, as telnet bytes: IAC doubled; a lone CR is CR NUL unless we send binary. */
  encode(input: Buffer): Buffer {
    const binary = this.local.has(BINARY);
    if (input.indexOf(IAC) < 0 && (binary || input.indexOf(CR) < 0)) return input;
    const out = Buffer.allocUnsafe(input.length * 2);
    let n = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      out[n++] = b;
      if (b === IAC) out[n++] = IAC;
      else if (b === CR && !binary && input[i + 1] !== LF) out[n++] = NUL;
    }
    return out.subarray(0, n);
  }

  /** The new window size; the bytes to send when the server asked for NAWS, else undefined. */
  resize(cols: number, rows: number): Buffer | undefined {
    this.cols = cols;
    this.rows = rows;
    return this.local.has(NAWS) ? nawsSubnegotiation(cols, rows) : undefined;
  }

  /** Options in effect, by name: ours (`local`) and the server's (`remote`). */
  options(): { local: string[]; remote: string[] } {
    const names = (set: Set<number>) => [...set].sort((a, b) => a - b).map((o) => OPTION_NAMES[o] ?? String(o));
    return { local: names(this.local), remote: names(this.remote) };
  }

  private negotiate(verb: Verb, option: number): Buffer | undefined {
    switch (verb) {
      case WILL:
        if (this.remote.has(option)) return undefined;
        if (!REMOTE_ACCEPTED.has(option)) return negotiation(DONT, option);
        this.remote.add(option);
        if (option === BINARY) this.afterCr = false;
        return negotiation(DO, option);
      case WONT:
        if (!this.remote.delete(option)) return undefined;
        return negotiation(DONT, option);
      case DO:
        if (this.local.has(option)) return undefined;
        if (!LOCAL_ACCEPTED.has(option)) return negotiation(WONT, option);
        this.local.add(option);
        return option === NAWS ? Buffer.concat([negotiation(WILL, option), nawsSubnegotiation(this.cols, this.rows)]) : negotiation(WILL, option);
      case DONT:
        if (!this.local.delete(option)) return undefined;
        return negotiation(WONT, option);
    }
  }

  /** NVT input (RFC 854): CR NUL means a bare CR, so the NUL goes; CR LF stays as it is. */
  private fromNvt(data: Buffer): Buffer {
    if (!this.afterCr && data.indexOf(NUL) < 0) {
      this.afterCr = data[data.length - 1] === CR;
      return data;
    }
    const out = Buffer.allocUnsafe(data.length);
    let n = 0;
    for (const b of data) {
      if (!(b === NUL && this.afterCr)) out[n++] = b;
      this.afterCr = b === CR;
    }
    return out.subarray(0, n);
  }
}

function joined(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
