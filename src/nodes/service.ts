// The node registry: the one place that validates a node, stores it and keeps its console in step.
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import type { ConsoleManager } from '../console/manager.js';
import type { RawPorts, RawPortStatus } from '../console/raw-ports.js';
import type { SessionStatus } from '../console/types.js';
import { SECRET_MASK, type DriverRegistry } from '../drivers/registry.js';
import type { ConsoleDriverDefinition } from '../drivers/types.js';
import { errors } from '../errors.js';
import { isValidNodeName, matchesLabels, normalizeSpec, NodeSpecSchema, type NodeRecord, type NodeSpec, type VncSpec } from '../model/node.js';
import { watchPatternsProblem } from '../model/watch-pattern.js';
import type { WatchState } from '../outputs/watch.js';
import { resolvePower, type KnownPower, type PowerRegistry } from '../power/index.js';
import type { Store } from '../store/types.js';
import { applyMergePatch } from './merge-patch.js';
import { claimFirstFreePort, formatPortRange, type PortRange } from './raw-port-allocation.js';

const specCheck = TypeCompiler.Compile(NodeSpecSchema);

export interface NodeView extends NodeRecord {
  session: SessionStatus;
  /** What the daemon last learned of the node's power (status calls, actions, the poll); null: nothing yet. */
  powerState: KnownPower | null;
  /** The raw console port as served now; null when the node has none. */
  rawPort: RawPortStatus | null;
  /** The node's fleet agent as last heard (its hello); null: never heard. */
  agent: { lastSeen: string; version: string } | null;
  /** The watch patterns watching this node: matches counted, the last one, disabled or not. */
  watch: WatchState[];
}

export type BulkResult =
  | { index: number; name?: string; status: 'created' | 'deleted' }
  | { index: number; name?: string; status: 'error'; error: string; message: string };

export interface NodeServiceDeps {
  store: Store;
  consoles: ConsoleManager;
  drivers: DriverRegistry<ConsoleDriverDefinition>;
  power: PowerRegistry;
  /** The last known power state of a node (PowerService.lastKnown). */
  knownPower?: (name: string) => KnownPower | undefined;
  /** The last hello of the node's fleet agent (KnownAgents.get). */
  knownAgent?: (name: string) => { lastSeen: string; version: string } | undefined;
  /** The patterns watching the node and their matches (WatchEngine.status). */
  knownWatch?: (name: string, spec: Pick<NodeSpec, 'labels' | 'watchPatterns'>) => WatchState[];
  /** The config's watch pattern names: a node's own pattern may not take one (its events would be ambiguous). */
  configWatchNames?: readonly string[];
  /** A deleted node's tokens are revoked (and their connections closed). */
  tokens?: { revokeNode(node: string, reason: string): Promise<number> };
  /** Every file of a node's console log (live and rotated). */
  logFiles(name: string): string[];
  logger: Logger;
  /** Raw TCP console ports and the range enableRawPort hands ports out from; absent: none are served. */
  rawPorts?: { ports: RawPorts; range: PortRange };
}

function maskVncPassword(vnc: VncSpec): VncSpec {
  return vnc.password === undefined ? { ...vnc } : { ...vnc, password: SECRET_MASK };
}

/** A VNC password sent back as '***' keeps the stored one (GET-edit-PUT is safe); with none stored, there is none. */
function keepVncPassword(next: VncSpec, prev: VncSpec | null): VncSpec {
  const { password: _masked, ...rest } = next;
  return prev?.password === undefined ? rest : { ...rest, password: prev.password };
}

/** Names in messages are shown quoted and cut short: a 10 KB name is not echoed back. */
export function quoteName(name: unknown): string {
  const s = JSON.stringify(typeof name === 'string' ? name : String(name));
  return s.length > 70 ? `${s.slice(0, 66)}..."` : s;
}

export function checkNodeName(name: unknown): string {
  if (!isValidNodeName(name)) throw new errors.BAD_NODE_NAME(quoteName(name));
  return name;
}

/**
 * Events: 'changed' (name: string) after a node was created or updated, 'deleted' (name: string).
 * Console state changes come from the ConsoleManager's own 'state' event.
 */
export class NodeService extends EventEmitter {
  /** Changes to one node run one after another; different nodes run in parallel. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: NodeServiceDeps) {
    super();
    // Every open page (the live feed) and VNC route listens here: many listeners are expected.
    this.setMaxListeners(0);
  }

  /** Every file of a node's console log, the live one first. */
  logFiles(name: string): string[] {
    return this.deps.logFiles(checkNodeName(name));
  }

  /** Validate anything that claims to be a node spec: shape, name, driver and its params. */
  validate(input: unknown): NodeSpec {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new errors.VALIDATION('a node must be a JSON object');
    checkNodeName((input as { name?: unknown }).name);
    input = Value.Default(NodeSpecSchema, structuredClone(input));
    if (!specCheck.Check(input)) {
      const e = specCheck.Errors(input).First();
      const field = e?.path ? e.path.slice(1).replaceAll('/', '.') : 'node';
      throw new errors.VALIDATION(`${field}: ${e?.message ?? 'invalid'}`);
    }
    const spec = normalizeSpec(input);
    this.checkWatchPatterns(spec);
    spec.params = this.deps.drivers.validate(spec.name, spec.driver, spec.params).params;
    const power = resolvePower(spec, this.deps.power);
    if (spec.power?.params && power) spec.power.params = power.params;
    return spec;
  }

  private checkWatchPatterns(spec: NodeSpec): void {
    const problem = watchPatternsProblem(spec.watchPatterns, 'watchPatterns');
    if (problem) throw new errors.VALIDATION(problem);
    const i = spec.watchPatterns.findIndex((p) => this.deps.configWatchNames?.includes(p.name));
    if (i >= 0) throw new errors.VALIDATION(`watchPatterns[${i}] (${spec.watchPatterns[i].name}): the name is used by a pattern of the config (watchPatterns)`);
  }

  /** Start every node's console session (raw ports follow in openRawPorts). */
  async startAll(): Promise<number> {
    const nodes = await this.deps.store.nodes.list();
    for (const node of nodes) await this.deps.consoles.sync(node);
    return nodes.length;
  }

  /**
   * Open every node's raw console port. The daemon calls this once its own listeners are up: a
   * node whose port is the API's must not win it at start and keep the daemon from starting.
   */
  async openRawPorts(): Promise<void> {
    for (const { name } of await this.deps.store.nodes.list()) {
      await this.serial(name, async () => {
        const rec = await this.deps.store.nodes.get(name); // the API may have changed it meanwhile
        if (rec) await this.deps.rawPorts?.ports.sync(rec);
      });
    }
  }

  view(rec: NodeRecord): NodeView {
    return {
      ...rec,
      params: this.deps.drivers.mask(rec.driver, rec.params),
      power: rec.power && { driver: rec.power.driver, ...(rec.power.params ? { params: this.deps.power.mask(rec.power.driver, rec.power.params) } : {}) },
      vnc: rec.vnc && maskVncPassword(rec.vnc),
      session: this.deps.consoles.status(rec.name),
      powerState: (rec.power && this.deps.knownPower?.(rec.name)) || null,
      rawPort: this.rawPortStatus(rec),
      agent: this.agentStatus(rec.name),
      watch: this.deps.knownWatch?.(rec.name, rec) ?? [],
    };
  }

  private agentStatus(name: string): NodeView['agent'] {
    const agent = this.deps.knownAgent?.(name);
    return agent ? { lastSeen: agent.lastSeen, version: agent.version } : null;
  }

  private rawPortStatus(rec: NodeRecord): RawPortStatus | null {
    if (rec.consolePort === null) return null;
    const served = this.deps.rawPorts?.ports.status(rec.name);
    return served?.port === rec.consolePort ? served : { port: rec.consolePort, listening: false };
  }

  /** The console session and the raw port follow the stored spec. */
  private async syncConsole(rec: NodeRecord): Promise<void> {
    await this.deps.consoles.sync(rec);
    await this.deps.rawPorts?.ports.sync(rec);
  }

  async list(labelSelectors: string[] = []): Promise<NodeView[]> {
    const all = await this.deps.store.nodes.list();
    return all.filter((n) => matchesLabels(n.labels, labelSelectors)).map((n) => this.view(n));
  }

  async get(name: string): Promise<NodeView> {
    return this.view(await this.record(name));
  }

  async record(name: string): Promise<NodeRecord> {
    checkNodeName(name);
    const rec = await this.deps.store.nodes.get(name);
    if (!rec) throw new errors.NODE_NOT_FOUND(name);
    return rec;
  }

  async create(input: unknown): Promise<NodeView> {
    const spec = this.validate(input);
    return this.serial(spec.name, async () => {
      const rec = await this.deps.store.nodes.create(spec);
      await this.syncConsole(rec);
      this.deps.logger.info({ node: rec.name, driver: rec.driver }, 'node created');
      this.emit('changed', rec.name);
      return this.view(rec);
    });
  }

  /** PUT: the body is the whole new spec. */
  async replace(name: string, input: unknown): Promise<NodeView> {
    checkNodeName(name);
    const body = { ...(input as Record<string, unknown>) };
    if (body.name !== undefined && body.name !== name) throw new errors.NAME_MISMATCH(quoteName(body.name), name);
    body.name = name;
    return this.serial(name, async () => this.store(await this.record(name), this.validate(body)));
  }

  /** PATCH: an RFC 7396 merge patch over the stored spec. */
  async patch(name: string, patch: unknown): Promise<NodeView> {
    checkNodeName(name);
    const p = patch as Record<string, unknown>;
    if (p && p.name !== undefined && p.name !== name) throw new errors.NAME_MISMATCH(quoteName(p.name), name);
    return this.serial(name, async () => {
      const prev = await this.record(name);
      const { createdAt: _c, updatedAt: _u, ...spec } = prev;
      return this.store(prev, this.validate(applyMergePatch(spec, patch)));
    });
  }

  private async store(prev: NodeRecord, next: NodeSpec): Promise<NodeView> {
    if (next.driver === prev.driver) next.params = this.deps.drivers.keepMaskedSecrets(next.driver, next.params, prev.params);
    if (next.power?.params && prev.power?.params && next.power.driver === prev.power.driver) {
      next.power.params = this.deps.power.keepMaskedSecrets(next.power.driver, next.power.params, prev.power.params);
    }
    if (next.vnc?.password === SECRET_MASK) next.vnc = keepVncPassword(next.vnc, prev.vnc);
    const rec = await this.deps.store.nodes.update(next);
    await this.syncConsole(rec);
    this.deps.logger.info({ node: rec.name, driver: rec.driver }, 'node updated');
    this.emit('changed', rec.name);
    return this.view(rec);
  }

  /** Deleting a node ends its console; its logs stay unless `purgeLogs`. */
  async delete(name: string, opts: { purgeLogs?: boolean } = {}): Promise<void> {
    checkNodeName(name);
    await this.serial(name, async () => {
      if (!(await this.deps.store.nodes.delete(name))) throw new errors.NODE_NOT_FOUND(name);
      await this.deps.tokens?.revokeNode(name, 'node deleted');
      await this.deps.consoles.remove(name, 'node deleted');
      await this.deps.rawPorts?.ports.remove(name, 'node deleted');
      if (opts.purgeLogs) await Promise.all(this.deps.logFiles(name).map((f) => rm(f, { force: true })));
      this.deps.logger.info({ node: name, purgeLogs: !!opts.purgeLogs }, 'node deleted');
      this.emit('deleted', name);
    });
  }

  /**
   * ironic's console enable: run the console and serve it on a raw port. A node that has no port
   * gets the first one of the range that no other node holds and that can be bound.
   */
  async enableRawPort(name: string): Promise<NodeView> {
    checkNodeName(name);
    return this.serial(name, async () => {
      const prev = await this.record(name);
      const { createdAt: _c, updatedAt: _u, ...spec } = prev;
      if (prev.consolePort !== null) return this.store(prev, { ...spec, consoleEnabled: true });
      if (!this.deps.rawPorts) throw new errors.CONFIG('this daemon serves no raw console ports');
      const { range } = this.deps.rawPorts;
      const held = new Set((await this.deps.store.nodes.list()).flatMap((n) => (n.consolePort === null ? [] : [n.consolePort])));
      let claimed: NodeRecord | undefined;
      const port = await claimFirstFreePort(range, held, async (p) => (claimed = await this.claimRawPort(spec, p)) !== undefined);
      if (port === undefined || !claimed) {
        await this.syncConsole(await this.deps.store.nodes.update(spec)); // as it was before the attempts
        throw new errors.NO_FREE_CONSOLE_PORT(name, `rawPortRange ${formatPortRange(range)}`);
      }
      this.deps.logger.info({ node: name, port }, 'raw console port allocated');
      this.emit('changed', name);
      return this.view(claimed);
    });
  }

  /** Store the port and bind it; undefined when another node holds it or it cannot be bound. */
  private async claimRawPort(spec: NodeSpec, port: number): Promise<NodeRecord | undefined> {
    let rec: NodeRecord;
    try {
      rec = await this.deps.store.nodes.update({ ...spec, consoleEnabled: true, consolePort: port });
    } catch (err) {
      if ((err as { code?: string }).code === 'CONSOLE_PORT_TAKEN') return undefined;
      throw err;
    }
    await this.syncConsole(rec);
    return this.deps.rawPorts?.ports.status(spec.name)?.listening ? rec : undefined;
  }

  /** Create many; each item succeeds or fails on its own. */
  async bulkCreate(items: unknown[]): Promise<BulkResult[]> {
    return Promise.all(
      items.map(async (item, index): Promise<BulkResult> => {
        const name = typeof (item as { name?: unknown })?.name === 'string' ? (item as { name: string }).name : undefined;
        try {
          const view = await this.create(item);
          return { index, name: view.name, status: 'created' };
        } catch (err) {
          return { index, name: name === undefined ? undefined : name.slice(0, 64), ...asResultError(err) };
        }
      }),
    );
  }

  async bulkDelete(names: unknown[], opts: { purgeLogs?: boolean } = {}): Promise<BulkResult[]> {
    return Promise.all(
      names.map(async (name, index): Promise<BulkResult> => {
        try {
          await this.delete(name as string, opts);
          return { index, name: name as string, status: 'deleted' };
        } catch (err) {
          return { index, name: typeof name === 'string' ? name.slice(0, 64) : undefined, ...asResultError(err) };
        }
      }),
    );
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return next;
  }
}

function asResultError(err: unknown): { status: 'error'; error: string; message: string } {
  const e = err as { code?: string; message?: string; statusCode?: number };
  if (e?.statusCode && e.statusCode < 500 && e.code) return { status: 'error', error: e.code, message: e.message ?? '' };
  return { status: 'error', error: 'INTERNAL', message: 'internal error' };
}
