// `ipmi-sol`: a node's serial console through its BMC, Serial over LAN on the native RMCP+ code
// (src/ipmi). Every ipmi-sol console in the process shares one UDP socket: no process per console.
import { EventEmitter } from 'node:events';
import { Type, type Static } from '@sinclair/typebox';
import { IpmiSession, IpmiTransport, SolConsole } from '../ipmi/index.js';
import { BMC_SECRET_PARAMS, bmcParamProperties, ipmiSessionOptions } from './bmc-params.js';
import { hostPort } from './net.js';
import type { ConsoleDriver, ConsoleDriverDefinition } from './types.js';

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_KEEPALIVE_MS = 10_000;
/** Sends after the first, for each request and SOL packet, before the BMC counts as gone. */
const RETRIES = 3;

// The BMC params are the ipmi power driver's too, so a node's power can share its console's.
const IpmiSolParams = Type.Object(
  {
    ...bmcParamProperties,
    takeOver: Type.Optional(Type.Boolean({ default: false, description: "deactivate another session's SOL on this BMC instead of failing" })),
    keepaliveMs: Type.Optional(
      Type.Integer({ minimum: 100, maximum: 600_000, default: DEFAULT_KEEPALIVE_MS, description: 'check the BMC and the SOL payload this often while the console is open' }),
    ),
  },
  { additionalProperties: false },
);
type IpmiSolParams = Static<typeof IpmiSolParams>;

let sharedTransport: IpmiTransport | undefined;

/** The process's one UDP socket for ipmi-sol consoles, made on first use. */
function transport(): IpmiTransport {
  sharedTransport ??= new IpmiTransport();
  return sharedTransport;
}

/** One SOL console: an RMCP+ session and the SOL payload activated on it. */
export class IpmiSolConsole extends EventEmitter implements ConsoleDriver {
  private session?: IpmiSession;
  private sol?: SolConsole;
  private closing = false;
  private ended = false;

  constructor(private readonly params: IpmiSolParams) {
    super();
  }

  async open(): Promise<void> {
    const p = this.params;
    const perTry = p.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const keepaliveMs = p.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    const session = await IpmiSession.open({
      ...ipmiSessionOptions(p),
      timeoutMs: perTry,
      retries: RETRIES,
      // The SOL watch (below) checks the BMC every keepaliveMs and its requests hold this off.
      keepaliveMs: keepaliveMs * 2,
      transport: transport(),
    });
    if (this.closing) {
      await session.close();
      throw new Error('connect cancelled');
    }
    this.session = session;
    let sol: SolConsole;
    try {
      sol = await SolConsole.activate(session, { takeOver: p.takeOver ?? false, retransmitMs: perTry, retries: RETRIES, watchMs: keepaliveMs });
    } catch (err) {
      this.session = undefined;
      await session.close();
      throw err;
    }
    if (this.closing) {
      await sol.deactivate();
      await session.close();
      this.session = undefined;
      throw new Error('connect cancelled');
    }
    this.sol = sol;
    sol.on('data', (chunk: Buffer) => this.emit('data', chunk));
    sol.once('close', (reason: Error | string) => this.lost(reason));
  }

  write(data: Buffer): void {
    this.sol?.write(data);
  }

  async sendBreak(): Promise<void> {
    await this.sol?.sendBreak();
  }

  pause(): void {
    this.sol?.pause();
  }

  resume(): void {
    this.sol?.resume();
  }

  info(): Record<string, unknown> {
    const s = this.session;
    if (!s?.active || !this.sol) return {};
    return { bmc: hostPort(this.params.host, s.port), bmcSessionId: s.bmcSessionId, instance: this.sol.instance, cipherSuite: s.suite.id };
  }

  /** Deactivate SOL, close the session (each best effort), and say so once. */
  async close(): Promise<void> {
    this.closing = true;
    const sol = this.sol;
    const session = this.session;
    this.sol = undefined;
    this.session = undefined;
    await sol?.deactivate();
    await session?.close();
    if (sol) this.end('closed');
  }

  /** The SOL payload or the session ended on its own (BMC gone, taken over): drop the session too. */
  private lost(reason: Error | string): void {
    if (this.closing) return;
    const session = this.session;
    this.sol = undefined;
    this.session = undefined;
    this.end(typeof reason === 'string' ? reason : reason.message);
    // Say so at once; a Close Session to a BMC that is gone would only wait out its timeout.
    void session?.close();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('close', reason);
  }
}

export const ipmiSolDriver: ConsoleDriverDefinition<IpmiSolParams> = {
  name: 'ipmi-sol',
  description: 'Serial over LAN through the node\'s BMC (IPMI v2.0 / RMCP+, native)',
  paramsSchema: IpmiSolParams,
  secretParams: BMC_SECRET_PARAMS,
  create: (params) => new IpmiSolConsole(params),
};
