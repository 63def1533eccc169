// All console sessions of this daemon, one per node with its console enabled.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DriverRegistry } from '../drivers/registry.js';
import type { ConsoleDriverDefinition } from '../drivers/types.js';
import type { HostKeyStore } from '../drivers/types.js';
import { errors } from '../errors.js';
import type { NodeSpec } from '../model/node.js';
import type { ConsoleOutput, SessionEvent } from '../outputs/types.js';
import { ConsoleSession, type Attachment } from './session.js';
import type { ClientMode, ClientView, ConsoleClient, ConsoleMeter, SessionOptions, SessionState, SessionStatus } from './types.js';

export interface ConsoleManagerDeps {
  drivers: DriverRegistry<ConsoleDriverDefinition>;
  hostKeys: HostKeyStore;
  options: SessionOptions;
  openOutput(node: string): ConsoleOutput;
  logger: Logger;
  meter?: ConsoleMeter;
}

/** How many sessions are in each state and how many clients are attached in each mode. */
export interface ConsoleCensus {
  sessions: Record<SessionState, number>;
  clients: Record<ClientMode, number>;
}

const NO_SESSION: Omit<SessionStatus, 'since'> = { state: 'disconnected', lastError: null, clients: 0, info: {} };

/** Events: 'state' (node: string, status: SessionStatus); 'client' (node, 'attach' | 'detach' | 'force', ClientView, reason?: string). */
export class ConsoleManager extends EventEmitter {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly startedAt = new Date().toISOString();
  private stopping = false;

  constructor(private readonly deps: ConsoleManagerDeps) {
    super();
    // Every open page (the live feed) listens for state changes: many listeners are expected.
    this.setMaxListeners(0);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Bring the node's session in line with its spec: start, reconfigure or stop it. */
  async sync(spec: NodeSpec): Promise<void> {
    if (this.stopping) return;
    const existing = this.sessions.get(spec.name);
    if (!spec.consoleEnabled) {
      if (existing) await this.remove(spec.name, 'console disabled');
      return;
    }
    const driver = this.deps.drivers.get(spec.driver);
    if (!driver) throw new errors.UNKNOWN_DRIVER(spec.name, 'console', spec.driver, this.deps.drivers.names().join(', '));
    if (existing) return existing.reconfigure(spec, driver);
    const session = new ConsoleSession(spec, {
      driver,
      hostKeys: this.deps.hostKeys,
      openOutput: this.deps.openOutput,
      options: this.deps.options,
      logger: this.deps.logger,
      meter: this.deps.meter,
    });
    session.on('state', (status: SessionStatus) => this.emit('state', spec.name, status));
    session.on('client', (event: string, view: ClientView, reason?: string) => this.emit('client', spec.name, event, view, reason));
    this.sessions.set(spec.name, session);
    session.start();
  }

  async remove(name: string, reason: string): Promise<void> {
    const session = this.sessions.get(name);
    if (!session) return;
    this.sessions.delete(name);
    await session.stop(reason);
  }

  status(name: string): SessionStatus {
    return this.sessions.get(name)?.status() ?? { ...NO_SESSION, since: this.startedAt };
  }

  /** The spec of a node with a session as the session has it now; undefined without one. */
  spec(name: string): NodeSpec | undefined {
    return this.sessions.get(name)?.nodeSpec;
  }

  /** An event from outside to the node's session and its clients; false when the node has no session. */
  announce(name: string, event: SessionEvent): boolean {
    const session = this.sessions.get(name);
    session?.announce(event);
    return session !== undefined;
  }

  census(): ConsoleCensus {
    const census: ConsoleCensus = { sessions: { connected: 0, connecting: 0, disconnected: 0, error: 0 }, clients: { rw: 0, ro: 0 } };
    for (const session of this.sessions.values()) {
      census.sessions[session.status().state]++;
      for (const mode of session.clientModes()) census.clients[mode]++;
    }
    return census;
  }

  session(name: string): ConsoleSession | undefined {
    return this.sessions.get(name);
  }

  /** Attach a client; the caller has checked that the node exists. */
  attach(name: string, client: ConsoleClient, mode: ClientMode, opts: { canWrite?: boolean; replay?: boolean } = {}): Attachment {
    if (this.stopping) throw new errors.SHUTTING_DOWN();
    const session = this.sessions.get(name);
    if (!session) throw new errors.CONSOLE_DISABLED(name);
    return session.attach(client, mode, opts);
  }

  /** Stop every session in parallel (each flushes its log and ends its process group). */
  async stopAll(reason: string): Promise<void> {
    this.stopping = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.stop(reason)));
  }
}
