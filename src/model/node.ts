// What a node is, independent of where it is stored or how it is served.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_NODE_WATCH_PATTERNS, NodeWatchPatternSchema, type NodeWatchPattern } from './watch-pattern.js';

/** Node names become file names (logs) and URL segments: keep them boring. */
export const NODE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
const NODE_NAME_RE = new RegExp(NODE_NAME_PATTERN);

export function isValidNodeName(name: unknown): name is string {
  return typeof name === 'string' && NODE_NAME_RE.test(name);
}

export const NodeName = Type.String({ pattern: NODE_NAME_PATTERN, maxLength: 63, description: 'unique node name' });
export const Labels = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$' }),
  Type.String({ maxLength: 256 }),
  { description: 'free-form key=value labels used for filtering' },
);

/**
 * How the node's power is controlled. Without `params`, the power driver takes what it needs
 * from the console's params (an `ipmi-sol` console and an `ipmi` power driver share one BMC).
 */
export const PowerSpecSchema = Type.Object(
  {
    driver: Type.String({ minLength: 1, maxLength: 32, description: 'power driver, e.g. ipmi' }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "power driver parameters; leave out to share the console driver's" })),
  },
  { additionalProperties: false, $id: 'PowerSpec' },
);
export interface PowerSpec {
  driver: string;
  params?: Record<string, unknown>;
}

export const VNC_DEFAULT_PORT = 5900;

export const VncPassword = Type.String({
  minLength: 1, maxLength: 256,
  description: "VNC password (VNC authentication uses its first 8 characters); shown as '***'",
});

/**
 * Where the node's graphical console (a BMC's KVM, a hypervisor's display) serves VNC. The
 * password stays on the daemon: it answers the server's challenge itself and browsers connect
 * without one.
 */
export const VncSpecSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 255, description: 'VNC server host name or address' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: `VNC server TCP port (default ${VNC_DEFAULT_PORT})` })),
    password: Type.Optional(VncPassword),
  },
  { additionalProperties: false, $id: 'VncSpec' },
);
export interface VncSpec {
  host: string;
  port: number;
  password?: string;
}

export const NodeWatchPatterns = Type.Array(NodeWatchPatternSchema, {
  maxItems: MAX_NODE_WATCH_PATTERNS,
  description: "the node's own watch patterns, run beside the config's watchPatterns that select it: [{name, regex, flags?, webhook?}]",
});

/** The node as a client writes it (POST/PUT body, import file, bulk item). */
export const NodeSpecSchema = Type.Object(
  {
    name: NodeName,
    driver: Type.String({ minLength: 1, maxLength: 32, description: 'console driver, e.g. cmd' }),
    params: Type.Record(Type.String(), Type.Unknown(), { default: {}, description: 'driver parameters' }),
    ondemand: Type.Boolean({ default: false, description: 'connect only while a client is attached' }),
    consoleEnabled: Type.Boolean({ default: true, description: 'whether the daemon runs a console session' }),
    labels: Type.Optional(Labels),
    power: Type.Optional(Type.Union([PowerSpecSchema, Type.Null()], { description: 'power control; null or absent: none' })),
    consolePort: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.Null()], {
      description: 'a raw TCP port bridged to the shared console (ironic socat, nova-serialproxy, scripts); null or absent: none',
    })),
    vnc: Type.Optional(Type.Union([VncSpecSchema, Type.Null()], { description: 'graphical console (VNC); null or absent: none' })),
    watchPatterns: Type.Optional(NodeWatchPatterns),
  },
  { additionalProperties: false, $id: 'NodeSpec' },
);
export type NodeSpecInput = Static<typeof NodeSpecSchema>;

export interface NodeSpec {
  name: string;
  driver: string;
  params: Record<string, unknown>;
  ondemand: boolean;
  consoleEnabled: boolean;
  labels: Record<string, string>;
  power: PowerSpec | null;
  /** Raw TCP port bridged to the console, or null. */
  consolePort: number | null;
  /** The graphical console, or null. */
  vnc: VncSpec | null;
  /** The node's own watch patterns (the config's select nodes by label). */
  watchPatterns: NodeWatchPattern[];
}

export interface NodeRecord extends NodeSpec {
  createdAt: string;
  updatedAt: string;
}

/** Fill defaults for a spec that passed schema validation. */
export function normalizeSpec(input: NodeSpecInput | NodeSpec): NodeSpec {
  return {
    name: input.name,
    driver: input.driver,
    params: { ...(input.params ?? {}) },
    ondemand: input.ondemand ?? false,
    consoleEnabled: input.consoleEnabled ?? true,
    labels: { ...(input.labels ?? {}) },
    power: input.power ? { driver: input.power.driver, ...(input.power.params ? { params: { ...input.power.params } } : {}) } : null,
    consolePort: input.consolePort ?? null,
    vnc: input.vnc
      ? { host: input.vnc.host, port: input.vnc.port ?? VNC_DEFAULT_PORT, ...(input.vnc.password !== undefined ? { password: input.vnc.password } : {}) }
      : null,
    watchPatterns: (input.watchPatterns ?? []).map((p) => ({ ...p })),
  };
}

/** Whether a node carries every one of `wanted`'s labels with the same value (the outputs' and watch patterns' selectors). */
export function carriesLabels(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(wanted)) if (labels[k] !== v) return false;
  return true;
}

/** `rack=r1` matches the label's value; `rack` alone matches any node that has the label. */
export function matchesLabels(labels: Record<string, string>, selectors: string[]): boolean {
  return selectors.every((sel) => {
    const eq = sel.indexOf('=');
    if (eq < 0) return Object.hasOwn(labels, sel);
    return labels[sel.slice(0, eq)] === sel.slice(eq + 1);
  });
}
