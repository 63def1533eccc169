// A minimal RFB (VNC) client over the daemon's WebSocket, as noVNC would talk to it: expects the
// daemon's greeting with security None, reads ServerInit, asks for 32-bit true-colour Raw pixels.
import WebSocket from 'ws';
import { ByteReader } from '../../src/vnc/byte-reader.js';
import type { DaemonHandle } from './daemon.js';

export interface ServerInit {
  width: number;
  height: number;
  name: string;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
  encoding: number;
  /** Raw pixels, 4 bytes each in the format set by setPixelFormat32 (B, G, R, 0). */
  pixels: Buffer;
}

export class RfbClient {
  private readonly reader = new ByteReader();
  closeInfo?: { code: number; reason: string };
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.reader.push(data));
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.reader.end(new Error(`WebSocket closed: ${code} ${reason.toString()}`));
        resolve(this.closeInfo);
      });
    });
  }

  /** Opens the WebSocket; an HTTP refusal rejects with {status, body}. */
  static open(d: DaemonHandle, node: string, opts: { token?: string; query?: Record<string, string> } = {}): Promise<RfbClient> {
    const url = new URL(`${d.url.replace('http', 'ws')}/api/v1/nodes/${encodeURIComponent(node)}/vnc`);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const token = opts.token ?? d.token;
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const client = new RfbClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => {
          req.destroy();
          reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body: JSON.parse(body || '{}') }));
        });
      });
    });
  }

  read(n: number): Promise<Buffer> {
    return this.reader.read(n);
  }

  send(bytes: Buffer | number[]): void {
    this.ws.send(Buffer.from(bytes), { binary: true });
  }

  /** Version 3.8, security None (the only type offered), ClientInit; returns ServerInit. */
  async handshake(shared = true): Promise<ServerInit> {
    const version = (await this.read(12)).toString('latin1');
    if (version !== 'RFB 003.008\n') throw new Error(`unexpected greeting ${JSON.stringify(version)}`);
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const types = [...(await this.read((await this.read(1))[0]))];
    if (types.join() !== '1') throw new Error(`expected only security None, got ${types.join()}`);
    this.send([1]);
    const result = (await this.read(4)).readUInt32BE(0);
    if (result !== 0) throw new Error(`SecurityResult ${result}`);
    this.send([shared ? 1 : 0]);
    const init = await this.read(24);
    const name = await this.read(init.readUInt32BE(20));
    return { width: init.readUInt16BE(0), height: init.readUInt16BE(2), name: name.toString('utf8') };
  }

  /** 32 bits per pixel, depth 24, little-endian, true colour, red at bit 16: bytes come as B, G, R, 0. */
  setPixelFormat32(): void {
    const msg = Buffer.alloc(20);
    msg[0] = 0; // SetPixelFormat
    Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]).copy(msg, 4);
    this.send(msg);
  }

  setEncodings(encodings: number[]): void {
    const msg = Buffer.alloc(4 + 4 * encodings.length);
    msg[0] = 2;
    msg.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => msg.writeInt32BE(e, 4 + 4 * i));
    this.send(msg);
  }

  /** A full (non-incremental) request always gets an answer, which makes it a barrier too. */
  requestUpdate(x: number, y: number, width: number, height: number, incremental = false): void {
    const msg = Buffer.alloc(10);
    msg[0] = 3;
    msg[1] = incremental ? 1 : 0;
    [x, y, width, height].forEach((v, i) => msg.writeUInt16BE(v, 2 + 2 * i));
    this.send(msg);
  }

  pointer(x: number, y: number, buttons = 0): void {
    const msg = Buffer.alloc(6);
    msg[0] = 5;
    msg[1] = buttons;
    msg.writeUInt16BE(x, 2);
    msg.writeUInt16BE(y, 4);
    this.send(msg);
  }

  key(keysym: number, down: boolean): void {
    const msg = Buffer.alloc(8);
    msg[0] = 4;
    msg[1] = down ? 1 : 0;
    msg.writeUInt32BE(keysym, 4);
    this.send(msg);
  }

  /** The next FramebufferUpdate's rectangles (Raw only), skipping Bell and ServerCutText. */
  async readUpdate(): Promise<Rect[]> {
    for (;;) {
      const type = (await this.read(1))[0];
      if (type === 2) continue; // Bell
      if (type === 3) {
        const head = await this.read(7);
        await this.read(head.readUInt32BE(3));
        continue;
      }
      if (type !== 0) throw new Error(`unexpected server message type ${type}`);
      const count = (await this.read(3)).readUInt16BE(1);
      const rects: Rect[] = [];
      for (let i = 0; i < count; i++) {
        const h = await this.read(12);
        const rect = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), width: h.readUInt16BE(4), height: h.readUInt16BE(6), encoding: h.readInt32BE(8) };
        if (rect.encoding !== 0) throw new Error(`expected Raw rectangles, got encoding ${rect.encoding}`);
        rects.push({ ...rect, pixels: await this.read(rect.width * rect.height * 4) });
      }
      return rects;
    }
  }

  close(): void {
    this.ws.close();
  }
}
