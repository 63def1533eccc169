// Just enough of the X11 protocol, over a display's unix socket, for tests to see what a VNC
// client did to the X server: where the pointer is, and the keys, buttons and motion it caused
// (events on the root window, which gets them all on a bare X server). No X library needed.
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { waitUntil } from './wait.js';

export interface InputEvent {
  kind: 'key-press' | 'key-release' | 'button-press' | 'button-release' | 'motion';
  /** The keycode or button number. */
  detail: number;
  /** Where the pointer was, on the root window. */
  x: number;
  y: number;
}

/** Keysyms (X11/keysymdef.h) the tests look for. */
export const KEYSYM = { Control_L: 0xffe3, Alt_L: 0xffe9, Meta_L: 0xffe7, Delete: 0xffff } as const;

const OP = { ChangeWindowAttributes: 2, QueryPointer: 38, GetInputFocus: 43, GetKeyboardMapping: 101 } as const;
const EVENTS: Record<number, InputEvent['kind']> = { 2: 'key-press', 3: 'key-release', 4: 'button-press', 5: 'button-release', 6: 'motion' };
const CW_EVENT_MASK = 0x800;
// KeyPress, KeyRelease, ButtonPress, ButtonRelease, PointerMotion.
const INPUT_EVENT_MASK = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6);

export class X11Client extends EventEmitter {
  /** Input events on the root window since `watchInput`, in order. */
  readonly events: InputEvent[] = [];
  root = 0;
  private buf = Buffer.alloc(0);
  private setup?: { resolve: () => void; reject: (e: Error) => void };
  private seq = 0;
  private readonly replies = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (e: Error) => {
      this.setup?.reject(e);
      for (const r of this.replies.values()) r.reject(e);
      this.replies.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('X server closed the connection')));
  }

  static async connect(display: number): Promise<X11Client> {
    const socket = net.connect(`/tmp/.X11-unix/X${display}`);
    const client = new X11Client(socket);
    await once(socket, 'connect');
    const ready = new Promise<void>((resolve, reject) => (client.setup = { resolve, reject }));
    // Little-endian, protocol 11.0, no authorization (Xvnc's local socket needs none).
    socket.write(Buffer.from([0x6c, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    await ready;
    return client;
  }

  close(): void {
    this.socket.destroy();
  }

  async pointer(): Promise<{ x: number; y: number }> {
    const reply = await this.request(OP.QueryPointer, 0, u32(this.root));
    return { x: reply.readInt16LE(16), y: reply.readInt16LE(18) };
  }

  /** Start collecting input events on the root window; resolves once the X server has taken the request. */
  async watchInput(): Promise<void> {
    this.send(OP.ChangeWindowAttributes, 0, Buffer.concat([u32(this.root), u32(CW_EVENT_MASK), u32(INPUT_EVENT_MASK)]));
    await this.request(OP.GetInputFocus, 0, Buffer.alloc(0)); // a round trip: everything before it is done
  }

  /** Waits until the events seen so far satisfy `check`; resolves with its answer. */
  waitForEvents<T>(what: string, check: (events: InputEvent[]) => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    return waitUntil(() => check(this.events), {
      what,
      timeoutMs,
      subscribe: (wake) => {
        this.on('input', wake);
        return () => this.off('input', wake);
      },
      describe: () => JSON.stringify(this.events.filter((e) => e.kind !== 'motion')),
    });
  }

  /** The first keysym the keyboard map gives `keycode` (the unshifted one). */
  async keysym(keycode: number): Promise<number> {
    const reply = await this.request(OP.GetKeyboardMapping, 0, Buffer.from([keycode, 1, 0, 0]));
    return reply.readUInt32LE(32);
  }

  private send(opcode: number, data: number, body: Buffer): number {
    const head = Buffer.alloc(4);
    head.writeUInt8(opcode, 0);
    head.writeUInt8(data, 1);
    head.writeUInt16LE(1 + body.length / 4, 2);
    this.socket.write(Buffer.concat([head, body]));
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  private request(opcode: number, data: number, body: Buffer): Promise<Buffer> {
    const seq = this.send(opcode, data, body);
    return new Promise((resolve, reject) => this.replies.set(seq, { resolve, reject }));
  }

  private onData(data: Buffer): void {
    this.buf = Buffer.concat([this.buf, data]);
    for (;;) {
      if (this.setup) {
        if (this.buf.length < 8) return;
        const total = 8 + this.buf.readUInt16LE(6) * 4;
        if (this.buf.length < total) return;
        this.onSetup(this.buf.subarray(0, total));
        this.buf = this.buf.subarray(total);
        continue;
      }
      if (this.buf.length < 32) return;
      const type = this.buf[0] & 0x7f; // the top bit marks a SendEvent
      const total = type === 1 ? 32 + this.buf.readUInt32LE(4) * 4 : 32;
      if (this.buf.length < total) return;
      const msg = this.buf.subarray(0, total);
      this.buf = this.buf.subarray(total);
      this.onMessage(type, msg);
    }
  }

  private onSetup(msg: Buffer): void {
    const setup = this.setup!;
    this.setup = undefined;
    if (msg[0] !== 1) return setup.reject(new Error(`X connection refused (status ${msg[0]})`));
    const body = msg.subarray(8);
    // The first screen's root window follows the vendor string (padded to 4) and the pixmap formats.
    const vendorLength = body.readUInt16LE(16);
    const formats = body[21];
    this.root = body.readUInt32LE(32 + Math.ceil(vendorLength / 4) * 4 + 8 * formats);
    setup.resolve();
  }

  private onMessage(type: number, msg: Buffer): void {
    if (type === 0 || type === 1) {
      const seq = msg.readUInt16LE(2);
      const waiting = this.replies.get(seq);
      this.replies.delete(seq);
      if (type === 1) return waiting?.resolve(msg);
      const err = new Error(`X error ${msg[1]} (request ${msg[10]}, sequence ${seq})`);
      if (waiting) waiting.reject(err);
      else this.emit('x-error', err);
      return;
    }
    const kind = EVENTS[type];
    if (kind) {
      this.events.push({ kind, detail: msg[1], x: msg.readInt16LE(20), y: msg.readInt16LE(22) });
      this.emit('input');
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
