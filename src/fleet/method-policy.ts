// Which methods an agent runs, and which senders may use each (steward's allowedNodes). The
// start-up flags give the base (--methods, default all; --allowed-nodes, default any sender whose
// key is allowed); startProc / stopProc (methods/op-command.ts) change it at run time. Those
// changes are saved in <data-dir>/method-policy.json and applied over the flags at the next start,
// so a method stopped stays stopped across a restart; deleting the file goes back to the flags.
// `op` is always enabled, else an agent could lock itself out, but its allowedNodes apply.
// The sender is the `from` of the signed payload (wire.ts); '*' in allowedNodes is any sender.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../errors.js';
import { isValidNodeName } from '../model/node.js';
import { canonicalMethod, type FleetMethod } from './message.js';

export const POLICY_FILE_NAME = 'method-policy.json';

export const AGENT_METHODS: readonly FleetMethod[] = [
  'cliCommand', 'nCliCommand', 'cliCommandCont', 'nCliCommandCont', 'tailFile', 'httpGet', 'hello', 'errorLog', 'op',
];

interface Rule {
  enabled: boolean;
  /** Undefined: any sender (whose key the agent allows). */
  allowedNodes?: string[];
}

export interface PolicyFlags {
  /** Enabled at start; undefined is all. `op` is enabled whatever this says. */
  methods?: FleetMethod[];
  /** For every method; undefined is any sender. */
  allowedNodes?: string[];
}

export interface PolicyRefusal {
  errorCode: 'METHOD_DISABLED' | 'SENDER_NOT_ALLOWED';
  error: string;
}

/** One method as `ps` shows it; allowedNodes ['*'] is any sender. */
export interface MethodState {
  method: FleetMethod;
  enabled: boolean;
  allowedNodes: string[];
}

export function isAgentMethod(name: string): name is FleetMethod {
  return (AGENT_METHODS as readonly string[]).includes(name);
}

/** `--methods cliCommand,REQHttpGet`: canonical or steward/ctrl names. */
export function parseMethodList(text: string, flag = '--methods'): FleetMethod[] {
  return [...new Set(splitList(text, flag).map((name) => {
    const method = canonicalMethod(name);
    if (!method) throw new errors.FLEET_METHOD_POLICY(`${flag}: unknown method '${name.slice(0, 40)}' (known: ${AGENT_METHODS.join(', ')})`);
    return method;
  }))];
}

/** `--allowed-nodes central,ops-1`; '*' is any sender. */
export function parseNodeList(text: string, flag = '--allowed-nodes'): string[] {
  const nodes = splitList(text, flag);
  const bad = nodes.find((n: string) => n !== '*' && !isValidNodeName(n)) as string | undefined;
  if (bad !== undefined) throw new errors.FLEET_METHOD_POLICY(`${flag}: '${bad.slice(0, 40)}' is not a node name (or '*')`);
  return nodes;
}

function splitList(text: string, flag: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new errors.FLEET_METHOD_POLICY(`${flag}: give a comma-separated list`);
  return [...new Set(items)];
}

export class MethodPolicy {
  /** Saves one after another, so the file always holds the latest change. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly rules: Map<FleetMethod, Rule>,
    /** The run-time changes, as saved; they win over the flags. */
    private readonly changes: Map<FleetMethod, Rule>,
    private readonly file?: string,
  ) {}

  /** The flags alone, kept in memory: for tests and for agents without a data dir. */
  static fromFlags(flags: PolicyFlags): MethodPolicy {
    return new MethodPolicy(baseRules(flags), new Map());
  }

  /**
   * The flags with the saved changes of `dataDir` over them. A file that cannot be read is
   * refused, not skipped: starting without it could run a method an operator stopped.
   */
  static async open(dataDir: string, flags: PolicyFlags): Promise<MethodPolicy> {
    const file = path.join(dataDir, POLICY_FILE_NAME);
    const policy = new MethodPolicy(baseRules(flags), new Map(), file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return policy;
      throw new errors.FLEET_METHOD_POLICY(`${file}: ${(err as Error).message}`);
    }
    for (const [method, rule] of parseSaved(text, file)) policy.apply(method, rule);
    return policy;
  }

  /** Whether `from` may use `method` now; the refusal names both. */
  check(method: FleetMethod, from: string | undefined): PolicyRefusal | undefined {
    const rule = this.rule(method);
    const sender = from ?? '(unnamed)';
    if (!rule.enabled) return { errorCode: 'METHOD_DISABLED', error: `method ${method} is disabled on this agent (message from ${sender})` };
    const allowed = rule.allowedNodes;
    if (allowed && !allowed.includes('*') && (from === undefined || !allowed.includes(from))) {
      return { errorCode: 'SENDER_NOT_ALLOWED', error: `sender ${sender} may not use method ${method} on this agent (allowedNodes: ${allowed.join(', ')})` };
    }
    return undefined;
  }

  /** steward's startProc: enables `method`; given allowedNodes replace its list, else it keeps the one it had. */
  start(method: FleetMethod, allowedNodes?: string[]): Promise<MethodState> {
    const { allowedNodes: before } = this.rule(method);
    const nodes = allowedNodes ?? before;
    return this.change(method, { enabled: true, ...(nodes && { allowedNodes: [...nodes] }) });
  }

  /** steward's stopProc; `op` cannot be stopped. */
  stop(method: FleetMethod): Promise<MethodState> {
    if (method === 'op') throw new errors.FLEET_METHOD_POLICY('op cannot be stopped: the agent would lock itself out');
    return this.change(method, { ...this.rule(method), enabled: false });
  }

  list(): MethodState[] {
    return AGENT_METHODS.map((method) => this.state(method));
  }

  /** Saved first: a change that cannot be kept is not made. */
  private async change(method: FleetMethod, rule: Rule): Promise<MethodState> {
    if (this.file) {
      const changes = new Map(this.changes).set(method, rule);
      const file = this.file;
      const text = JSON.stringify({ changes: Object.fromEntries(changes) }, null, 2);
      const write = this.saving.then(async () => {
        await writeFile(`${file}.tmp`, text, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      });
      this.saving = write.catch(() => undefined);
      await write;
    }
    this.apply(method, rule);
    return this.state(method);
  }

  private apply(method: FleetMethod, rule: Rule): void {
    this.changes.set(method, rule);
    this.rules.set(method, { ...rule, enabled: rule.enabled || method === 'op' });
  }

  private rule(method: FleetMethod): Rule {
    return this.rules.get(method) ?? { enabled: false };
  }

  private state(method: FleetMethod): MethodState {
    const rule = this.rule(method);
    return { method, enabled: rule.enabled, allowedNodes: rule.allowedNodes ?? ['*'] };
  }
}

function baseRules(flags: PolicyFlags): Map<FleetMethod, Rule> {
  const enabled = new Set<FleetMethod>(flags.methods ?? AGENT_METHODS);
  const nodes = flags.allowedNodes;
  return new Map(AGENT_METHODS.map((method) => [method, {
    enabled: method === 'op' || enabled.has(method),
    ...(nodes && { allowedNodes: [...nodes] }),
  }]));
}

function parseSaved(text: string, file: string): [FleetMethod, Rule][] {
  const broken = (why: string) => new errors.FLEET_METHOD_POLICY(`${file}: ${why} (delete the file to start from the flags alone)`);
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    throw broken('not valid JSON');
  }
  const changes = (saved as { changes?: unknown } | null)?.changes;
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) throw broken('no "changes" object');
  return Object.entries(changes).map(([method, value]) => {
    const rule = value as Partial<Rule> | null;
    if (!isAgentMethod(method)) throw broken(`unknown method '${method.slice(0, 40)}'`);
    if (typeof rule?.enabled !== 'boolean') throw broken(`${method}: "enabled" must be true or false`);
    const nodes = rule.allowedNodes;
    if (nodes !== undefined && !(Array.isArray(nodes) && nodes.every((n) => n === '*' || isValidNodeName(n)))) {
      throw broken(`${method}: "allowedNodes" must be a list of node names (or '*')`);
    }
    return [method, { enabled: rule.enabled, ...(nodes && { allowedNodes: [...nodes] }) }];
  });
}
