// The daemon's fleet side (serve --nats): the controller, the unix-socket and TCP inputs, and the
// demo node's agent. A console server must not stay down because NATS is: when the server cannot be
// reached at start, the daemon starts without the fleet and keeps trying (1 s doubling to 30 s);
// the fleet endpoints answer 503 saying so until it is there. What cannot change by waiting
// (refused credentials, an untrusted certificate, a bad setting) still stops the start.
import type { Logger } from 'pino';
import type { FleetAgent } from '../fleet/agent.js';
import { FleetController, loadSigner, type ControllerOptions } from '../fleet/controller.js';
import { FleetInputs, type FleetInputOptions } from '../fleet/inputs.js';
import { errors } from '../errors.js';
import { LoggedWait } from '../fleet/nats-connect.js';
import { formatPublicKey, type Signer } from '../fleet/signer-keys.js';

export interface FleetSideOptions {
  controller: Omit<ControllerOptions, 'wait' | 'signer'>;
  /** The inputs but their submit, which is the controller's. */
  inputs: Omit<FleetInputOptions, 'submit'>;
  /** The demo node's agent, once the controller runs (serve --demo). */
  demoAgent?: (controller: FleetController) => Promise<FleetAgent>;
  logger: Logger;
}

export type FleetStatus = 'connected' | 'reconnecting' | 'waiting for NATS' | 'failed';

export class FleetSide {
  private controller?: FleetController;
  private inputs?: FleetInputs;
  private demoAgent?: FleetAgent;
  /** Since when and why the fleet is not running yet; undefined once it runs. */
  private waiting?: LoggedWait;
  /** It gave up (an error waiting cannot mend, met after the first try). */
  private failed?: string;
  private readonly stopWaiting = new AbortController();
  private starting?: Promise<void>;
  private signer?: Signer;

  constructor(private readonly opts: FleetSideOptions) {}

  /**
   * Resolves once the fleet runs, or once the first try found NATS unreachable (it goes on trying
   * in the background); rejects on what waiting cannot mend.
   */
  async start(): Promise<void> {
    // The key is the data dir's: agents can be given it (`fleet signer`) before NATS is reached.
    this.signer = await loadSigner(this.opts.controller.dataDir, this.opts.logger.child({ component: 'fleet' }));
    let firstRetry!: () => void;
    const waitingNow = new Promise<void>((resolve) => (firstRetry = resolve));
    this.starting = this.run(firstRetry);
    try {
      await Promise.race([this.starting, waitingNow]);
    } catch (err) {
      this.starting = undefined; // failed, nothing runs: stop() has nothing to wait for
      throw err;
    }
    // From here on a failure is the log's and the 503's to tell, not the start's.
    this.starting = this.starting.catch((err: Error) => {
      if (this.stopWaiting.signal.aborted) return;
      this.failed = err.message;
      this.opts.logger.error({ err: err.message }, 'fleet side not started: NATS answered, but it cannot be used');
    });
  }

  /** The controller, or why there is none yet: FLEET_UNAVAILABLE. */
  get(): FleetController {
    if (this.controller) return this.controller;
    if (this.failed) throw new errors.FLEET_UNAVAILABLE(this.failed);
    const w = this.waiting;
    throw new errors.FLEET_UNAVAILABLE(w?.since ? `not connected to NATS yet: trying since ${w.since.toISOString()} (${w.reason})` : 'starting');
  }

  /** `switchboard agent --allow-signer` takes it. */
  get publicKey(): string {
    if (!this.signer) throw new errors.FLEET_UNAVAILABLE('starting');
    return formatPublicKey(this.signer.publicKey);
  }

  get running(): boolean {
    return this.controller !== undefined;
  }

  /** For /healthz: connected, reconnecting (lost after it ran), waiting for NATS (never reached yet), or failed. */
  get status(): FleetStatus {
    if (this.controller) return this.controller.natsLostSince ? 'reconnecting' : 'connected';
    return this.failed ? 'failed' : 'waiting for NATS';
  }

  get socketPath(): string | null {
    return this.inputs?.socketPath ?? null;
  }

  get tcpAddress(): string | null {
    return this.inputs?.tcpAddress ?? null;
  }

  /** No new submissions (the inputs close first), the demo agent, then the controller drains NATS. */
  async stop(): Promise<void> {
    this.stopWaiting.abort();
    await this.starting;
    await this.inputs?.close();
    await this.demoAgent?.stop();
    await this.controller?.stop();
  }

  private async run(firstRetry: () => void): Promise<void> {
    const log = this.opts.logger;
    const wait = new LoggedWait(log, 'NATS not reachable; the daemon runs without the fleet and tries again', this.stopWaiting.signal, firstRetry);
    this.waiting = wait;
    const controller = await FleetController.start({ ...this.opts.controller, signer: this.signer, wait });
    if (this.stopWaiting.signal.aborted) {
      await controller.stop();
      return;
    }
    try {
      this.inputs = await FleetInputs.open({ ...this.opts.inputs, submit: (input, by) => controller.submit(input, by) });
      if (this.opts.demoAgent) this.demoAgent = await this.opts.demoAgent(controller);
    } catch (err) {
      await this.inputs?.close();
      await controller.stop();
      throw err;
    }
    if (wait.since) log.info({ waitedMs: wait.waitedMs }, 'NATS reachable: the fleet side runs');
    this.waiting = undefined;
    this.controller = controller;
  }
}
