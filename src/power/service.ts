// Power control of nodes: finds a node's power driver and params (its own, or shared with its
// console), runs one operation at a time per node and a bounded number at once overall.
import { EventEmitter } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { DriverRegistry } from '../drivers/registry.js';
import { errors } from '../errors.js';
import type { NodeSpec } from '../model/node.js';
import { PowerTimeoutError, type BootDeviceName, type BootDeviceOptions, type PowerAction, type PowerDriver, type PowerDriverDefinition, type PowerState } from './types.js';

export type PowerRegistry = DriverRegistry<PowerDriverDefinition>;

/**
 * The power driver and checked params of a node, or null when it has no power control. Without
 * its own params, a power driver takes the keys it knows from a console driver it shares with.
 */
export function resolvePower(spec: Pick<NodeSpec, 'name' | 'driver' | 'params' | 'power'>, registry: PowerRegistry): { def: PowerDriverDefinition; params: Record<string, unknown> } | null {
  if (!spec.power) return null;
  const { driver, params } = spec.power;
  if (params) return registry.validate(spec.name, driver, params, 'power.params');
  const def = registry.get(driver);
  if (!def) return registry.validate(spec.name, driver, {}, 'power.params'); // throws UNKNOWN_DRIVER
  if (!def.sharesParamsWith.includes(spec.driver)) {
    const from = def.sharesParamsWith.length ? ` (it can share the params of a ${def.sharesParamsWith.join(' or ')} console)` : '';
    throw new errors.BAD_PARAMS(spec.name, driver, `power.params: required with a ${spec.driver} console${from}`);
  }
  const known = Object.keys((def.paramsSchema as { properties?: object }).properties ?? {});
  const shared = Object.fromEntries(Object.entries(spec.params).filter(([k]) => known.includes(k)));
  return registry.validate(spec.name, driver, shared, 'params');
}

export interface PowerServiceDeps {
  drivers: PowerRegistry;
  logger: Logger;
  /** Power operations in flight at once, across all nodes. */
  concurrency: number;
}

/** What the daemon last learned of a node's power: from a status call, or from an action that succeeded. */
export interface KnownPower {
  state: PowerState | 'unknown';
  at: string;
  /** Why the last attempt to learn it failed. */
  error?: string;
}

/** After an action succeeds, what the node's power is (soft: up to the OS; boot device: unchanged). */
const STATE_AFTER: Partial<Record<PowerAction, PowerState>> = { on: 'on', off: 'off', cycle: 'on', reset: 'on' };

/** A power or boot-device action that ended, done or failed (status calls are not actions). */
export interface PowerActionEvent {
  node: string;
  labels: Record<string, string>;
  /** on, off, cycle, reset, soft, or `boot-device <device>`. */
  action: string;
  /** Who asked: admin or token:<id>, never a token. */
  by: string;
  /** Why it failed; absent when it was done. */
  error?: string;
}

/**
 * Events: 'changed' (node: string) when what is known of a node's power changes;
 * 'action' (PowerActionEvent) when an action ends.
 */
export class PowerService extends EventEmitter {
  private readonly limit: LimitFunction;
  private readonly known = new Map<string, KnownPower>();
  /** One operation at a time per node: a cycle is not interleaved with an off. */
  private readonly perNode = new Map<string, LimitFunction>();

  constructor(private readonly deps: PowerServiceDeps) {
    super();
    this.setMaxListeners(0);
    this.limit = pLimit(deps.concurrency);
  }

  /** The last known power state, for node views and the live feed; undefined if never asked. */
  lastKnown(name: string): KnownPower | undefined {
    return this.known.get(name);
  }

  forget(name: string): void {
    this.known.delete(name);
  }

  async status(spec: NodeSpec): Promise<PowerState> {
    try {
      const state = await this.run(spec, 'status', (d) => d.status());
      this.learn(spec.name, { state, at: new Date().toISOString() });
      return state;
    } catch (err) {
      if ((err as { code?: string }).code !== 'POWER_NOT_CONFIGURED') {
        this.learn(spec.name, { state: 'unknown', at: new Date().toISOString(), error: (err as Error).message });
      }
      throw err;
    }
  }

  /** `by`: who asks (admin or token:<id>), for the action's event. */
  async control(spec: NodeSpec, action: PowerAction, by: string): Promise<void> {
    await this.run(spec, action, (d) => d.control(action), by);
    const state = STATE_AFTER[action];
    this.learn(spec.name, { state: state ?? 'unknown', at: new Date().toISOString() });
  }

  private learn(name: string, next: KnownPower): void {
    const prev = this.known.get(name);
    this.known.set(name, next);
    if (prev?.state !== next.state || prev?.error !== next.error) this.emit('changed', name);
  }

  setBootDevice(spec: NodeSpec, device: BootDeviceName, opts: BootDeviceOptions, by: string): Promise<void> {
    return this.run(spec, `boot-device ${device}`, (d) => d.setBootDevice(device, opts), by);
  }

  /** `by` for an action (it becomes an event); a status call has none. */
  private async run<T>(spec: NodeSpec, action: string, op: (d: PowerDriver) => Promise<T>, by?: string): Promise<T> {
    const resolved = resolvePower(spec, this.deps.drivers);
    if (!resolved) throw new errors.POWER_NOT_CONFIGURED(spec.name);
    const driver = resolved.def.create(resolved.params, { node: spec.name, logger: this.deps.logger });
    const log = { node: spec.name, driver: resolved.def.name, action };
    let queue = this.perNode.get(spec.name);
    if (!queue) this.perNode.set(spec.name, (queue = pLimit(1)));
    const started = Date.now();
    try {
      const result = await queue(() => this.limit(() => op(driver)));
      this.deps.logger.info({ ...log, ms: Date.now() - started, ...(typeof result === 'string' ? { power: result } : {}) }, 'power');
      if (by !== undefined) this.emit('action', { node: spec.name, labels: spec.labels, action, by } satisfies PowerActionEvent);
      return result;
    } catch (err) {
      const message = (err as Error).message;
      this.deps.logger.warn({ ...log, ms: Date.now() - started, err: message }, 'power failed');
      if (by !== undefined) this.emit('action', { node: spec.name, labels: spec.labels, action, by, error: message } satisfies PowerActionEvent);
      if (err instanceof PowerTimeoutError) throw new errors.POWER_TIMEOUT(spec.name, action, message);
      throw new errors.POWER_FAILED(spec.name, action, message);
    } finally {
      if (queue.activeCount === 0 && queue.pendingCount === 0) this.perNode.delete(spec.name);
    }
  }
}
