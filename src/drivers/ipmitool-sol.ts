// `ipmitool-sol`: Serial over LAN by running `ipmitool -I lanplus sol activate` in a pty, one
// process per console, for BMCs the native ipmi-sol driver does not handle. The password goes
// through the environment (-E), never argv.
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Type, type Static } from '@sinclair/typebox';
import { BMC_SECRET_PARAMS, bmcParamProperties, ipmitoolArgs } from './bmc-params.js';
import { PtyConsole } from './cmd.js';
import type { ConsoleDriverDefinition, DriverContext } from './types.js';

const IpmitoolSolParams = Type.Object(
  {
    ...bmcParamProperties,
    takeOver: Type.Optional(Type.Boolean({ default: false, description: "run `sol deactivate` first when another session holds the SOL payload" })),
  },
  { additionalProperties: false },
);
type IpmitoolSolParams = Static<typeof IpmitoolSolParams>;

/** ipmitool's escape character; it acts only right after a CR. */
const ESCAPE = 0x7e; // ~
const CR = 0x0d;

/**
 * Keystrokes as ipmitool must get them to pass them on unchanged: a `~` right after a CR would
 * start an ipmitool escape (`~.` ends the session), so it is doubled (`~~` sends one `~`).
 */
export class EscapeGuard {
  private afterCr = true; // ipmitool starts as if a line had just ended

  encode(data: Buffer): Buffer {
    let doubled = 0;
    for (const b of data) if (b === ESCAPE) doubled++;
    if (doubled === 0) {
      if (data.length) this.afterCr = data[data.length - 1] === CR;
      return data;
    }
    const out = Buffer.alloc(data.length + doubled);
    let n = 0;
    for (const b of data) {
      out[n++] = b;
      if (b === ESCAPE && this.afterCr) out[n++] = ESCAPE;
      this.afterCr = b === CR;
    }
    return out.subarray(0, n);
  }

  /** A BREAK is ipmitool's `~B`, which needs a CR before it unless one was just sent. */
  breakSequence(): Buffer {
    return this.escape('B');
  }

  /** `~.`: ipmitool deactivates the payload and exits. */
  quitSequence(): Buffer {
    return this.escape('.');
  }

  private escape(command: string): Buffer {
    const seq = Buffer.from(`${this.afterCr ? '' : '\r'}~${command}`);
    this.afterCr = false;
    return seq;
  }
}

/** What ipmitool prints when it cannot start, as a reason a person can act on. */
const FAILURES: [RegExp, string][] = [
  [/SOL payload already active on another session/i, 'SOL payload already active on another session (set param takeOver=true to deactivate it first)'],
  [/Unable to establish IPMI v2 \/ RMCP\+ session/i, 'ipmitool could not log in to the BMC (wrong user or password, or the BMC is unreachable)'],
  [/Insufficient privilege level/i, 'the BMC user lacks the privilege for SOL'],
  [/SOL payload disabled/i, 'SOL is disabled on the BMC'],
];

/** ipmitool prints this once SOL is up; keys typed before it would be lost. */
const OPERATIONAL = '[SOL Session operational';
/** How long a quitting ipmitool gets to deactivate the payload before it is hung up on. */
const QUIT_GRACE_MS = 2000;

class IpmitoolSolConsole extends PtyConsole {
  private readonly guard = new EscapeGuard();
  private said = '';
  private operational = false;
  private readonly changed = new EventEmitter();

  constructor(private readonly params: IpmitoolSolParams, ctx: DriverContext) {
    // ipmitool prints "SOL Session operational" a moment before it makes its terminal raw; keys
    // typed in that gap went through the line discipline (CR turned into LF). So the pty starts
    // raw, and exec leaves ipmitool with its own argv and pid.
    const argv = ['/bin/sh', '-c', 'stty raw -echo 2>/dev/null; exec "$@"', 'sh', 'ipmitool', ...ipmitoolArgs(params), 'sol', 'activate'];
    super({ argv, env: { IPMI_PASSWORD: params.password } }, ctx);
  }

  override async open(): Promise<void> {
    if (this.params.takeOver) await this.deactivate();
    await super.open();
  }

  /** `ipmitool sol deactivate`; it fails harmlessly when nothing was active. */
  private deactivate(): Promise<void> {
    return new Promise((resolve) => {
      execFile('ipmitool', [...ipmitoolArgs(this.params), 'sol', 'deactivate'], { env: { ...process.env, IPMI_PASSWORD: this.params.password }, timeout: 30_000 }, () => resolve());
    });
  }

  protected override output(chunk: Buffer): void {
    this.said = (this.said + chunk.toString('latin1')).slice(-1024);
    if (!this.operational && this.said.includes(OPERATIONAL)) {
      this.operational = true;
      this.changed.emit('operational');
    }
  }

  /** Up when ipmitool says SOL is operational; it gives up by itself (exits) when it cannot log in. */
  protected override ready(): Promise<void> {
    if (this.operational) return Promise.resolve();
    return new Promise((resolve) => this.changed.once('operational', resolve));
  }

  /** Quit the way ipmitool deactivates the payload (`~.`), so the next session finds it free. */
  override async close(): Promise<void> {
    if (this.running && this.operational) {
      super.write(this.guard.quitSequence());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, QUIT_GRACE_MS)))]);
      clearTimeout(timer);
    }
    await super.close();
  }

  protected override exitReason(reason: string): string {
    const known = FAILURES.find(([re]) => re.test(this.said));
    return known ? `${known[1]}; ${reason}` : reason;
  }

  override write(data: Buffer): void {
    super.write(this.guard.encode(data));
  }

  async sendBreak(): Promise<void> {
    super.write(this.guard.breakSequence());
  }

  override info(): Record<string, unknown> {
    return { ...super.info(), program: 'ipmitool' };
  }
}

export const ipmitoolSolDriver: ConsoleDriverDefinition<IpmitoolSolParams> = {
  name: 'ipmitool-sol',
  description: 'IPMI Serial over LAN by running ipmitool (one process per console; fallback for BMCs ipmi-sol does not handle)',
  paramsSchema: IpmitoolSolParams,
  secretParams: BMC_SECRET_PARAMS,
  create: (params, ctx) => new IpmitoolSolConsole(params, ctx),
};
