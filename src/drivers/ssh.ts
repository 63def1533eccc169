// `ssh`: a console reached over SSH (OpenBMC, switches, terminal servers), in-process with
// ssh2: no `ssh` process per console. Host keys are pinned or trusted on first use.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { connectTimeoutParam, describeSocketError, hostParam, hostPort, portParam } from './net.js';
import type { ConsoleDriver, ConsoleDriverDefinition, DriverContext } from './types.js';

const SshParams = Type.Object(
  {
    host: hostParam,
    port: Type.Optional(portParam(22)),
    user: Type.String({ minLength: 1, maxLength: 255 }),
    password: Type.Optional(Type.String({ maxLength: 4096 })),
    privateKey: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, description: 'private key in OpenSSH or PEM format' })),
    passphrase: Type.Optional(Type.String({ maxLength: 4096 })),
    term: Type.Optional(Type.String({ default: 'xterm-256color', maxLength: 64 })),
    hostKeyFingerprint: Type.Optional(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$', description: 'pinned host key, as `ssh-keygen -lf` prints it' })),
    connectTimeoutMs: Type.Optional(connectTimeoutParam),
    keepaliveIntervalMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, default: 15_000, description: '0 turns keepalives off' })),
    keepaliveCountMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 3 })),
  },
  { additionalProperties: false },
);
type SshParamsInput = Static<typeof SshParams>;
/** Params with every default filled in. */
type SshParams = SshParamsInput & Required<Pick<SshParamsInput, 'port' | 'term' | 'connectTimeoutMs' | 'keepaliveIntervalMs' | 'keepaliveCountMax'>>;

/** The fingerprint of a raw host key as OpenSSH prints it: SHA256:<base64 without padding>. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

// ssh2 has no call for RFC 4335 "break"; its packet writer is reused for that one request.
const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket(proto: unknown, packet: Buffer): void };
const CHANNEL_REQUEST = 98;

interface PacketWriter {
  allocStart: number;
  alloc(n: number): Buffer;
  finalize(p: Buffer): Buffer;
}

function sendBreakRequest(client: Client, channel: ClientChannel, ms: number): void {
  const proto = (client as unknown as { _protocol: { _packetRW: { write: PacketWriter } } })._protocol;
  const remoteId = (channel as unknown as { outgoing: { id: number } }).outgoing.id;
  const w = proto._packetRW.write;
  let p = w.allocStart;
  const packet = w.alloc(1 + 4 + 4 + 5 + 1 + 4);
  packet[p] = CHANNEL_REQUEST;
  packet.writeUInt32BE(remoteId, ++p);
  packet.writeUInt32BE(5, (p += 4));
  packet.write('break', (p += 4), 'latin1');
  packet[(p += 5)] = 0; // want reply: no
  packet.writeUInt32BE(ms, ++p);
  sendPacket(proto, w.finalize(packet));
}

/** A reason an operator can act on, from whatever ssh2 or the socket threw. */
export function describeSshError(err: Error & { level?: string }, p: SshParams, connected: boolean): string {
  const where = hostPort(p.host, p.port);
  if (err.level === 'client-authentication') return `authentication failed for user '${p.user}' at ${where}`;
  if (err.level === 'client-timeout') {
    // Once connected, the only timer ssh2 runs is the keepalive one.
    return connected ? `no answer from ${where} to keepalives: link is dead` : `timed out after ${p.connectTimeoutMs / 1000}s connecting to ${where}`;
  }
  if (err.level === 'client-socket' || (err as NodeJS.ErrnoException).code) return describeSocketError(err, p.host, p.port);
  if (/privateKey|passphrase|encrypted/i.test(err.message)) return `private key: ${err.message}`;
  // What sshd does to connections beyond its MaxStartups, among other things.
  if (/lost before handshake/i.test(err.message)) return `${where} closed the connection before the SSH handshake (sshd busy: MaxStartups?)`;
  return `${where}: ${err.message}`;
}

class SshConsole extends EventEmitter implements ConsoleDriver {
  private client?: Client;
  private channel?: ClientChannel;
  private ended = false;
  private hostKeyProblem?: string;

  constructor(private readonly params: SshParams, private readonly ctx: DriverContext) {
    super();
  }

  private get endpoint(): string {
    return hostPort(this.params.host, this.params.port);
  }

  /** Pinned fingerprint, else trust on first use: a changed key is refused, never accepted. */
  private async checkHostKey(key: Buffer): Promise<boolean> {
    const seen = fingerprint(key);
    const pinned = this.params.hostKeyFingerprint;
    if (pinned) {
      if (seen === pinned) return true;
      this.hostKeyProblem = `host key mismatch for ${this.endpoint}: expected ${pinned} (pinned), got ${seen}`;
      return false;
    }
    const recorded = await this.ctx.hostKeys.remember(this.endpoint, seen);
    if (recorded === seen) return true;
    this.hostKeyProblem = `host key mismatch for ${this.endpoint}: first seen ${recorded}, now ${seen}; `
      + 'if the key changed on purpose, pin the new one with params.hostKeyFingerprint';
    return false;
  }

  open(): Promise<void> {
    const p = this.params;
    const client = new Client();
    this.client = client;
    const config: ConnectConfig = {
      host: p.host,
      port: p.port,
      username: p.user,
      password: p.password,
      privateKey: p.privateKey,
      passphrase: p.passphrase,
      readyTimeout: p.connectTimeoutMs,
      keepaliveInterval: p.keepaliveIntervalMs,
      keepaliveCountMax: p.keepaliveCountMax,
      agentForward: false,
      tryKeyboard: p.password !== undefined,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        this.checkHostKey(key).then(verify, (err: Error) => {
          this.hostKeyProblem = `host key check failed: ${err.message}`;
          verify(false);
        });
      },
    };
    // Some BMCs only offer keyboard-interactive: answer every prompt with the password.
    client.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) => finish(prompts.map(() => p.password ?? '')));

    return new Promise((resolve, reject) => {
      let opened = false;
      const fail = (reason: string) => {
        if (opened) return this.end(reason);
        client.end();
        reject(new Error(reason));
      };
      client.on('error', (err: Error & { level?: string }) => {
        if (this.hostKeyProblem) return fail(this.hostKeyProblem);
        fail(describeSshError(err, p, opened));
      });
      client.on('close', () => {
        if (!opened) return fail(this.hostKeyProblem ?? `connection to ${this.endpoint} closed during setup`);
        this.end(`connection to ${this.endpoint} closed`);
      });
      client.on('ready', () => {
        client.shell({ term: p.term, cols: this.ctx.cols, rows: this.ctx.rows }, (err, channel) => {
          if (err) return fail(`${this.endpoint}: shell refused: ${err.message}`);
          this.channel = channel;
          opened = true;
          channel.on('data', (chunk: Buffer) => this.emit('data', chunk));
          channel.stderr.on('data', (chunk: Buffer) => this.emit('data', chunk));
          channel.on('close', () => this.end(`shell on ${this.endpoint} ended`));
          resolve();
        });
      });
      try {
        client.connect(config);
      } catch (err) {
        // ssh2 throws synchronously for a key it cannot parse
        fail(describeSshError(err as Error, p, false));
      }
    });
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.channel = undefined;
    this.client?.end();
    this.emit('close', reason);
  }

  write(data: Buffer): void {
    this.channel?.write(data);
  }

  resize(cols: number, rows: number): void {
    this.channel?.setWindow(rows, cols, 0, 0);
  }

  async sendBreak(): Promise<void> {
    if (this.client && this.channel) sendBreakRequest(this.client, this.channel, 250);
  }

  pause(): void {
    this.channel?.pause();
  }

  resume(): void {
    this.channel?.resume();
  }

  info(): Record<string, unknown> {
    return this.channel ? { endpoint: this.endpoint } : {};
  }

  async close(): Promise<void> {
    this.ended = true;
    const client = this.client;
    this.channel = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }
}

export const sshDriver: ConsoleDriverDefinition<SshParamsInput> = {
  name: 'ssh',
  description: 'a console reached over SSH (in-process, ssh2)',
  paramsSchema: SshParams,
  secretParams: ['password', 'privateKey', 'passphrase'],
  check(params) {
    if (params.password === undefined && params.privateKey === undefined) return 'params: give password or privateKey';
    return undefined;
  },
  create: (params, ctx) => new SshConsole(Value.Default(SshParams, structuredClone(params)) as SshParams, ctx),
};
