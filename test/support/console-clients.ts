// Console clients for tests: a WebSocket one and a raw TCP one, each keeping a transcript of
// what it received and able to wait for a pattern to show up in it.
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { DaemonHandle } from './daemon.js';
import type { EventEmitter } from 'node:events';
import { exited, spawnTracked, type ExitStatus } from './processes.js';
import { onEvents, waitUntil } from './wait.js';

export class Transcript {
  output = '';
  readonly notices: string[] = [];
  readonly controls: Record<string, unknown>[] = [];
  closed = false;
  closeInfo: { code?: number; reason?: string } = {};
  private readonly wakers = new Set<() => void>();

  protected changed(): void {
    for (const w of this.wakers) w();
  }

  /** Byte-stream output, where notices are inline: whole lines in brackets. */
  protected appendStream(text: string): void {
    this.output += text;
    for (const m of text.matchAll(/\[([^\]\r\n]+)\]\r\n/g)) this.notices.push(m[1]);
  }

  private wait<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return waitUntil(check, {
      what,
      timeoutMs,
      subscribe: (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
      failIf: () => (this.closed ? `connection closed (${JSON.stringify(this.closeInfo)})` : undefined),
      describe: () => JSON.stringify({ output: this.output.slice(-400), notices: this.notices.slice(-5) }),
    });
  }

  /** Resolves when the console output (everything received) matches. */
  waitFor(pattern: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const re = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern;
    return this.wait(() => re.exec(this.output)?.[0], `output ${re}`, timeoutMs);
  }

  /**
   * Resolves when a Switchboard notice matches (side channel on WebSocket, inline on TCP);
   * `since` skips the notices already received (pass `client.notices.length`).
   */
  waitForNotice(pattern: RegExp, timeoutMs = 15_000, since = 0): Promise<string> {
    return this.wait(() => this.notices.slice(since).find((n) => pattern.test(n)), `notice ${pattern}`, timeoutMs);
  }

  waitClosed(timeoutMs = 15_000): Promise<{ code?: number; reason?: string }> {
    return waitUntil(() => (this.closed ? this.closeInfo : undefined), {
      what: 'connection to close',
      timeoutMs,
      subscribe: (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
    });
  }
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class WsConsole extends Transcript {
  private constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.output += data.toString('latin1');
      else {
        const msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        this.controls.push(msg);
        if (msg.type === 'notice') this.notices.push(String(msg.message));
      }
      this.changed();
    });
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.closeInfo = { code, reason: reason.toString() };
      this.changed();
    });
  }

  static open(d: DaemonHandle, node: string, query: Record<string, string> = {}, token: string | undefined = d.token): Promise<WsConsole> {
    const url = new URL(`${d.url.replace('http', 'ws')}/api/v1/nodes/${encodeURIComponent(node)}/console`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, ca: d.ca });
    const client = new WsConsole(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) => {
        res.once('end', () => req.destroy());
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body: JSON.parse(body || '{}') })));
      });
    });
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, 'latin1'), { binary: true });
  }

  control(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close();
  }
}

export class TcpConsole extends Transcript {
  hello?: Record<string, unknown>;
  private pending = '';

  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (!this.hello) {
        this.pending += text;
        const nl = this.pending.indexOf('\n');
        if (nl < 0) return;
        this.hello = JSON.parse(this.pending.slice(0, nl)) as Record<string, unknown>;
        this.appendStream(this.pending.slice(nl + 1));
      } else this.appendStream(text);
      this.changed();
    });
    socket.on('close', () => {
      this.closed = true;
      this.changed();
    });
  }

  /** Connect and send the handshake; resolves once the server answered it. */
  static async open(d: DaemonHandle, hello: Record<string, unknown>): Promise<TcpConsole> {
    const socket = d.ca ? tls.connect({ port: d.consolePort, host: '127.0.0.1', ca: d.ca }) : net.connect(d.consolePort, '127.0.0.1');
    const client = new TcpConsole(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once(d.ca ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    socket.write(`${JSON.stringify(hello)}\n`);
    await waitUntil(() => client.hello ?? (client.closed ? { ok: false, error: 'closed' } : undefined), {
      what: 'handshake reply',
      subscribe: (wake) => {
        socket.on('data', wake);
        socket.on('close', wake);
        return () => {
          socket.off('data', wake);
          socket.off('close', wake);
        };
      },
    });
    return client;
  }

  type(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  close(): void {
    this.socket.end();
  }
}

/**
 * A real `socat - TCP:HOST:PORT` process with pipes, as ironic's users reach a raw console port:
 * stdin is typed to the console, stdout is what it prints.
 */
export class SocatConsole extends Transcript {
  readonly proc: ChildProcess;
  stderr = '';

  constructor(target: string) {
    super();
    this.proc = spawnTracked('socat', ['-', `TCP:${target}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      this.appendStream(chunk.toString('latin1'));
      this.changed();
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk));
    this.proc.once('exit', (code) => {
      this.closed = true;
      this.closeInfo = { code: code ?? undefined, reason: this.stderr.trim() };
      this.changed();
    });
  }

  /** Connect and wait until the session has attached it (its first notice). */
  static async open(target: string): Promise<SocatConsole> {
    const c = new SocatConsole(target);
    await c.waitForNotice(/attached read-write/);
    return c;
  }

  type(text: string): void {
    this.proc.stdin!.write(Buffer.from(text, 'latin1'));
  }

  /** End of input: socat closes the connection and exits. */
  async close(): Promise<ExitStatus> {
    this.proc.stdin!.end();
    return exited(this.proc);
  }
}

/** The output of a console driver used directly (no session), to wait for text in it. */
export function driverOutput(driver: EventEmitter): { text: () => string; waitFor(s: string): Promise<boolean> } {
  let out = '';
  driver.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return {
    text: () => out,
    waitFor: (s) =>
      waitUntil(() => out.includes(s), {
        what: `console output ${JSON.stringify(s)}`,
        timeoutMs: 10_000,
        subscribe: onEvents(driver, 'data'),
        describe: () => out.slice(-300),
      }),
  };
}
