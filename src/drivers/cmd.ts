// `cmd`: any local program in a pseudo-terminal (node-pty). Its process group is the console.
import { EventEmitter } from 'node:events';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import * as pty from 'node-pty';
import { parse as shellParse } from 'shell-quote';
import type { ConsoleDriver, ConsoleDriverDefinition, DriverContext } from './types.js';

const CmdParams = Type.Object(
  {
    cmd: Type.Union([
      Type.String({ minLength: 1, maxLength: 4096, description: 'command line, split into words like a POSIX shell does (no shell is run)' }),
      Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 256, description: 'argv' }),
    ]),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    term: Type.Optional(Type.String({ default: 'xterm-256color' })),
  },
  { additionalProperties: false },
);
type CmdParams = Static<typeof CmdParams>;

/**
 * Split a command line into argv as a POSIX shell would: quotes and escapes respected,
 * variables left as written, and no operators (pipes, redirections): those need a shell,
 * which the user asks for explicitly with `/bin/sh -c '...'`.
 */
export function splitCommandLine(line: string): string[] {
  const words = shellParse(line, (key) => `$${key}`);
  const argv: string[] = [];
  for (const w of words) {
    if (typeof w === 'string') argv.push(w);
    else if ('op' in w && w.op === 'glob') argv.push(w.pattern);
    else if ('comment' in w) break;
    else throw new Error(`shell syntax '${'op' in w ? w.op : '?'}' is not run by cmd; use /bin/sh -c '...'`);
  }
  return argv;
}

export function commandArgv(cmd: string | string[]): string[] {
  return Array.isArray(cmd) ? cmd : splitCommandLine(cmd);
}

async function resolveExecutable(file: string, envPath: string | undefined): Promise<string> {
  const candidates = file.includes('/') ? [file] : (envPath ?? '/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, file));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next PATH entry
    }
  }
  throw new Error(`command not found: ${file}`);
}

const KILL_GRACE_MS = 2000;

/**
 * node-pty forks the whole daemon synchronously for every console. Spawns take turns, one per
 * event-loop turn, so that starting a thousand consoles does not freeze the API meanwhile.
 */
let spawnTurn: Promise<void> = Promise.resolve();
function nextSpawnTurn(): Promise<void> {
  const turn = spawnTurn.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  spawnTurn = turn;
  return turn;
}

/** A program to run as a console: what the cmd driver runs, and what other drivers build on it. */
export interface PtyProgram {
  argv: string[];
  /** Added to the daemon's environment. */
  env?: Record<string, string>;
  cwd?: string;
  term?: string;
}

/** A program in a pseudo-terminal as a console; drivers that run a client program extend it. */
export class PtyConsole extends EventEmitter implements ConsoleDriver {
  private proc?: pty.IPty;
  /** Resolves when the program has ended (set once it started). */
  protected exited?: Promise<void>;
  protected closed = false;

  constructor(private readonly program: PtyProgram, private readonly ctx: DriverContext) {
    super();
  }

  async open(): Promise<void> {
    const { argv } = this.program;
    const env = { ...process.env, ...this.program.env } as Record<string, string>;
    const file = await resolveExecutable(argv[0]!, env.PATH);
    await nextSpawnTurn();
    if (this.closed) throw new Error('closed before it started');
    const proc = pty.spawn(file, argv.slice(1), {
      name: this.program.term ?? 'xterm-256color',
      cols: this.ctx.cols,
      rows: this.ctx.rows,
      cwd: this.program.cwd ?? process.cwd(),
      env,
      encoding: null,
    });
    this.proc = proc;
    let opened = false;
    const exit = new Promise<string>((resolve) => {
      proc.onExit(({ exitCode, signal }) => {
        this.proc = undefined;
        const reason = this.exitReason(signal ? `process exited on signal ${signal}` : `process exited with code ${exitCode}`);
        resolve(reason);
        if (opened) this.emit('close', reason);
      });
    });
    this.exited = exit.then(() => undefined);
    proc.onData((chunk) => {
      this.output(chunk as unknown as Buffer);
      this.emit('data', chunk as unknown as Buffer);
    });
    try {
      // A program that ends before it is ready failed to open: open() says why, no 'close'.
      const failed = exit.then((reason) => Promise.reject(new Error(reason)));
      failed.catch(() => undefined); // matters only until ready
      await Promise.race([this.ready(), failed]);
    } catch (err) {
      await this.close();
      throw err;
    }
    opened = true;
  }

  /** Resolves when the program is ready for input; a client program may first need to log in. */
  protected ready(): Promise<void> {
    return Promise.resolve();
  }

  /** Lets a subclass watch what the program prints (e.g. its error messages). */
  protected output(_chunk: Buffer): void {}

  /** Lets a subclass say why the program ended, better than its exit code. */
  protected exitReason(reason: string): string {
    return reason;
  }

  write(data: Buffer): void {
    this.proc?.write(data);
  }

  resize(cols: number, rows: number): void {
    try {
      this.proc?.resize(cols, rows);
    } catch {
      // the process may be gone between the check and the ioctl
    }
  }

  pause(): void {
    this.proc?.pause();
  }

  resume(): void {
    this.proc?.resume();
  }

  info(): Record<string, unknown> {
    return this.proc ? { pid: this.proc.pid } : {};
  }

  protected get running(): boolean {
    return this.proc !== undefined;
  }

  /** Hang up the whole process group, then kill it if it does not go. */
  async close(): Promise<void> {
    this.closed = true;
    const proc = this.proc;
    if (!proc) return;
    signalGroup(proc.pid, 'SIGHUP');
    const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal); // forkpty made the child a session and group leader
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export const cmdDriver: ConsoleDriverDefinition<CmdParams> = {
  name: 'cmd',
  description: 'a local program in a pseudo-terminal',
  paramsSchema: CmdParams,
  secretParams: [],
  check(params) {
    try {
      if (commandArgv(params.cmd).length === 0) return 'params.cmd: empty command';
    } catch (err) {
      return `params.cmd: ${(err as Error).message}`;
    }
    return undefined;
  },
  create: (params, ctx) => new PtyConsole({ argv: commandArgv(params.cmd), env: params.env, cwd: params.cwd, term: params.term }, ctx),
};
