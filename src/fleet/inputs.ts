// The fleet's stream inputs, as steward's socket: a client writes JSON arrays of messages to a unix
// socket (or to an optional TCP port) and reads back one JSON line per array:
//   {"ok":true,"messages":[{"id","node","index"},...]}   or   {"ok":false,"error":{"code","message"}}
// Neither input asks who is writing: whoever can reach one submits messages the daemon signs.
import { once } from 'node:events';
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { errors, isSwitchboardError } from '../errors.js';
import type { Submitted } from './controller.js';
import { JsonValueSplitter } from './json-values.js';

export type Submit = (input: unknown, by: string) => Promise<Submitted[]>;

export interface FleetInputOptions {
  submit: Submit;
  logger: Logger;
  /** The largest array taken, in bytes; a connection sending more without completing one is closed. */
  maxBytes: number;
  /** The unix socket; none when undefined. */
  socketPath?: string;
  /** The TCP listener; none when undefined. `createServer` must allow half-open sockets. */
  tcp?: { host: string; port: number; createServer(onConnection: (socket: net.Socket) => void): net.Server };
}

/** sun_path is 108 bytes on Linux, the last one a NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
/** A client told its stream is broken may go on writing; it is cut off after this. */
const BROKEN_STREAM_GRACE_MS = 5_000;
/** At stop, a client that does not read its last answers does not hold the daemon up longer. */
const CLOSE_GRACE_MS = 2_000;

export class FleetInputs {
  private readonly servers: net.Server[] = [];
  private readonly connections = new Set<InputConnection>();
  /** Where the unix socket listens, when it does. */
  socketPath?: string;
  /** host:port the TCP listener is bound to, when there is one. */
  tcpAddress?: string;

  private constructor(private readonly opts: FleetInputOptions, private readonly log: Logger) {}

  static async open(opts: FleetInputOptions): Promise<FleetInputs> {
    const inputs = new FleetInputs(opts, opts.logger.child({ component: 'fleet-input' }));
    try {
      if (opts.socketPath) await inputs.listenSocket(opts.socketPath);
      if (opts.tcp) await inputs.listenTcp(opts.tcp);
    } catch (err) {
      await inputs.close();
      throw err;
    }
    return inputs;
  }

  private async listenSocket(file: string): Promise<void> {
    if (Buffer.byteLength(file) > MAX_SOCKET_PATH_BYTES) {
      throw new errors.CONFIG(`fleetSocket ${file}: longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a unix socket path; set a shorter --fleet-socket`);
    }
    await clearStaleSocket(file, this.log);
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket, 'socket'));
    // Whoever can write the socket gets commands signed by the daemon: 0600 from the bind on (the
    // bind is synchronous, so the umask is back before anything else runs), and chmod to be sure.
    const umask = process.umask(0o177);
    try {
      server.listen(file);
    } finally {
      process.umask(umask);
    }
    await listening(server, `fleetSocket ${file}`);
    this.servers.push(server);
    await chmod(file, 0o600);
    this.socketPath = file;
    this.log.info({ socket: file }, 'fleet socket input listening');
  }

  private async listenTcp(tcp: NonNullable<FleetInputOptions['tcp']>): Promise<void> {
    const server = tcp.createServer((socket) => this.accept(socket, `tcp:${hostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0)}`));
    server.listen(tcp.port, tcp.host);
    await listening(server, `fleetTcpListen ${hostPort(tcp.host, tcp.port)}`);
    this.servers.push(server);
    const bound = server.address() as net.AddressInfo;
    this.tcpAddress = hostPort(bound.address, bound.port);
    this.log.info({ address: this.tcpAddress }, 'fleet TCP input listening');
  }

  private accept(socket: net.Socket, by: string): void {
    const connection = new InputConnection(socket, by, this.opts.submit, this.log.child({ client: by }), this.opts.maxBytes);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  /** Stops listening (the unix socket file goes with it); submissions under way finish and are answered. */
  async close(): Promise<void> {
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    await Promise.all([...this.connections].map((c) => c.close()));
    await Promise.all(closed);
  }
}

/** One client: its arrays are submitted one after another and answered in the order written. */
class InputConnection {
  private readonly splitter: JsonValueSplitter;
  /** The submissions taken so far, chained: replies keep the order of the arrays. */
  private work: Promise<void> = Promise.resolve();
  private closing = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly by: string,
    private readonly submit: Submit,
    private readonly log: Logger,
    maxBytes: number,
  ) {
    this.splitter = new JsonValueSplitter(maxBytes);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('end', () => this.queue(() => this.ended()));
    // A client that writes and goes without reading (steward's way) makes our replies fail with
    // EPIPE / ECONNRESET; its arrays were taken all the same.
    socket.on('error', (err: NodeJS.ErrnoException) => this.log.debug({ code: err.code }, 'fleet input client connection error'));
    this.log.debug('fleet input client connected');
  }

  private read(chunk: Buffer): void {
    if (this.splitter.failure) return; // discarding what a broken stream still sends
    const values = this.splitter.push(chunk);
    const failure = this.splitter.failure;
    // One chunk at a time: a client cannot pile up arrays faster than they are submitted.
    this.socket.pause();
    this.queue(async () => {
      for (const value of values) await this.take(value);
      if (failure) return this.broken(failure);
      if (!this.closing) this.socket.resume();
    });
  }

  private queue(step: () => Promise<void> | void): void {
    this.work = this.work.then(step).catch((err: Error) => this.log.error({ err }, 'fleet input connection failed'));
  }

  private async take(value: Buffer): Promise<void> {
    let input: unknown;
    try {
      input = JSON.parse(value.toString('utf8'));
    } catch (err) {
      return this.refuse(new errors.BAD_JSON((err as Error).message));
    }
    if (this.closing) return this.refuse(new errors.SHUTTING_DOWN());
    try {
      const messages = await this.submit(input, this.by);
      this.log.info({ messages: messages.length }, 'fleet input: messages taken');
      this.reply({ ok: true, messages });
    } catch (err) {
      this.refuse(err as Error);
    }
  }

  private refuse(err: Error): void {
    if (!isSwitchboardError(err)) {
      this.log.error({ err }, 'fleet input: submission failed');
      return this.reply({ ok: false, error: { code: 'INTERNAL', message: 'internal error: see the daemon log' } });
    }
    const { field } = err as { field?: string };
    this.log.info({ code: err.code }, 'fleet input: submission refused');
    this.reply({ ok: false, error: { code: err.code, message: err.message, ...(field && { field }) } });
  }

  private reply(line: unknown): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(`${JSON.stringify(line)}\n`);
  }

  /** Bytes that begin no array, or too many of them: say so, stop reading, hang up. */
  private broken(failure: Error): void {
    this.refuse(failure);
    this.socket.end();
    this.socket.resume(); // read and drop the rest, so the client's own writes do not stall...
    setTimeout(() => this.socket.destroy(), BROKEN_STREAM_GRACE_MS).unref(); // ...for a while
  }

  /** The client half-closed (or closed): answer for an array left unfinished, then hang up. */
  private ended(): void {
    if (!this.splitter.failure && this.splitter.pending > 0) {
      this.refuse(new errors.BAD_JSON(`the connection ended inside an array (${this.splitter.pending} bytes unfinished): nothing of it was taken`));
    }
    this.socket.end();
  }

  /** The daemon is stopping: no more reading; what is being submitted finishes and is answered. */
  async close(): Promise<void> {
    this.closing = true;
    this.socket.pause();
    await this.work;
    if (this.socket.closed) return;
    const closed = once(this.socket, 'close');
    const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.socket.end(() => this.socket.destroy());
    await closed;
    clearTimeout(timer);
  }
}

/**
 * A socket left at `file` by a daemon that died is replaced; a file that is not a socket is the
 * user's and is left alone, and a socket something still listens on belongs to a live daemon.
 */
async function clearStaleSocket(file: string, log: Logger): Promise<void> {
  let stat;
  try {
    stat = await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new errors.CONFIG(`fleetSocket ${file}: ${(err as Error).message}`);
  }
  if (!stat.isSocket()) {
    throw new errors.CONFIG(`fleetSocket ${file} exists and is not a socket; it is left as it is: remove it or set another path with --fleet-socket`);
  }
  if (await answers(file)) {
    throw new errors.CONFIG(`fleetSocket ${file}: another process listens on it (a daemon with the same data dir?); stop it or set another path with --fleet-socket`);
  }
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw new errors.CONFIG(`fleetSocket ${file}: cannot remove the stale socket: ${err.message}`);
  });
  log.info({ socket: file }, 'stale fleet socket replaced');
}

/** Whether a process accepts connections on the unix socket `file`; refused or gone means stale. */
function answers(file: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.connect({ path: file });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(false);
      else reject(new errors.CONFIG(`fleetSocket ${file}: cannot tell whether a daemon listens on it: ${err.code ?? err.message}`));
    });
  });
}

function listening(server: net.Server, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new errors.CONFIG(`${what}: cannot listen: ${err.message}`));
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
