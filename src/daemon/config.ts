// Daemon settings from four places, in this precedence: flags > SWITCHBOARD_* env > YAML file > defaults.
// Every setting has one camelCase name; its env name is SWITCHBOARD_ + SNAKE_CASE, its YAML key is the
// name itself, its flag is --kebab-case where one exists. With obmdCompat on, OBMd's own environment
// (LISTEN_ADDR, ADMIN_TOKEN, ...) is one more layer, between the YAML file and SWITCHBOARD_* env.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { DEFAULT_BREAK_SEQUENCES } from '../console/break-sequence.js';
import { DEFAULT_SESSION_OPTIONS } from '../console/types.js';
import { errors } from '../errors.js';
import { DEFAULT_FLEET_PREFIX, FLEET_PREFIX_PATTERN } from '../fleet/nats-transport.js';
import { LOG_FORMATS } from './logger.js';
import { DEFAULT_FLEET_NAME } from '../fleet/wire.js';
import { NODE_NAME_PATTERN } from '../model/node.js';
import type { PortRange } from '../nodes/raw-port-allocation.js';
import { checkOutputs, OutputSchema } from '../outputs/config.js';
import { checkWatchPatterns, WatchPatternSchema } from '../outputs/watch-patterns.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const ConfigSchema = Type.Object({
  listen: Type.String({ default: '127.0.0.1:7860', description: 'HTTP address host:port' }),
  consolePort: Type.Union([Port, Type.Literal(-1)], { default: 7861, description: 'TCP console attach port on the listen host; -1 turns it off' }),
  dataDir: Type.String({ default: './data', description: 'SQLite store, console logs, admin token' }),
  dbPath: Type.Optional(Type.String({ minLength: 1, description: "the SQLite file (':memory:' keeps nothing); default <dataDir>/switchboard.db" })),
  adminToken: Type.Optional(Type.String({ minLength: 16, description: 'admin token; generated into the data dir if unset' })),
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  logFormat: Type.Optional(Type.Union(LOG_FORMATS.map((f) => Type.Literal(f)), { description: 'text (readable lines) or json (one object per line); default text on a terminal, else json' })),
  replayBytes: Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024, default: DEFAULT_SESSION_OPTIONS.replayBytes }),
  replayLines: Type.Integer({ minimum: 1, maximum: 10_000, default: DEFAULT_SESSION_OPTIONS.replayLines }),
  logMaxBytes: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024, description: 'rotate a console log at this size' }),
  logKeep: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'rotated console logs kept per node' }),
  auditMaxBytes: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024, description: 'rotate <dataDir>/audit.jsonl at this size' }),
  auditKeep: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'rotated audit logs kept (audit.jsonl.1 ...)' }),
  logTimestamps: Type.Boolean({ default: true, description: 'prefix console log lines with the time (log search and tail go by it)' }),
  reconnectMinMs: Type.Integer({ minimum: 10, default: DEFAULT_SESSION_OPTIONS.reconnectMinMs }),
  reconnectMaxMs: Type.Integer({ minimum: 10, default: DEFAULT_SESSION_OPTIONS.reconnectMaxMs }),
  ondemandGraceMs: Type.Integer({ minimum: 0, default: DEFAULT_SESSION_OPTIONS.ondemandGraceMs }),
  bodyLimit: Type.Integer({ minimum: 1024, default: 8 * 1024 * 1024, description: 'largest request body in bytes' }),
  powerPollSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 0, description: 'ask every BMC for its power state this often (0: never; pages then show what status calls and actions learned)' }),
  powerConcurrency: Type.Integer({ minimum: 1, maximum: 1000, default: 32, description: 'power operations in flight at once (bulk power)' }),
  breaks: Type.Record(Type.String({ pattern: '^[1-9]$' }), Type.String({ maxLength: 256 }), { default: DEFAULT_BREAK_SEQUENCES }),
  demo: Type.Boolean({ default: false, description: 'create a demo node with a simulated serial console' }),
  tlsCert: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate (chain): every listener speaks TLS' })),
  tlsKey: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key for tlsCert' })),
  insecure: Type.Boolean({ default: false, description: 'allow plaintext on a non-loopback address' }),
  publicUrl: Type.Optional(Type.String({ pattern: '^https?://[^/]+$', description: 'how clients reach the daemon (console links, ironic console_info); default: from the request' })),
  rawPortRange: Type.String({ pattern: '^\\d{1,5}-\\d{1,5}$', default: '7900-7999', description: 'ports handed out for per-node raw TCP consoles (ironic)' }),
  tokenMaxTtl: Type.Optional(Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', description: 'policy: no scoped token lives longer than this from its creation, renewals included' })),
  metricsToken: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token Prometheus must send to GET /metrics; unset: /metrics is public like /healthz' })),
  authFailuresPerMinute: Type.Integer({ minimum: 1, default: 30, description: 'failed logins per source address per minute before 429' }),
  natsUrl: Type.Optional(Type.String({ pattern: '^(nats|tls)://', description: 'NATS server with JetStream (nats://[user:password@]host:port): enables fleet messaging' })),
  fleetMaxAge: Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', default: '7d', description: "how long a message waits for an offline agent before it expires; at most 7d, the agents' signing window" }),
  fleetMaxQueued: Type.Integer({ minimum: 1, default: 10_000, description: 'messages waiting per node and method lane; a submission beyond it fails with QUEUE_FULL' }),
  natsUser: Type.Optional(Type.String({ minLength: 1, description: 'NATS user name; its password from natsPasswordFile or SWITCHBOARD_NATS_PASSWORD' })),
  natsPassword: Type.Optional(Type.String({ minLength: 1, description: 'password of natsUser; best given as SWITCHBOARD_NATS_PASSWORD or natsPasswordFile, not in a config file' })),
  natsPasswordFile: Type.Optional(Type.String({ minLength: 1, description: "file whose first line is natsUser's password" })),
  natsNkey: Type.Optional(Type.String({ minLength: 1, description: 'file holding an nkey user seed (SU...), from `switchboard fleet nkey`' })),
  natsCreds: Type.Optional(Type.String({ minLength: 1, description: 'NATS JWT user creds file (nsc, operator mode)' })),
  natsCa: Type.Optional(Type.String({ minLength: 1, description: "PEM CA certificate(s) that signed the NATS server's certificate; turns TLS on" })),
  natsCert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate for NATS (a server with verify: true), with natsKey' })),
  natsKey: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of natsCert' })),
  fleetPrefix: Type.String({ pattern: FLEET_PREFIX_PATTERN, default: DEFAULT_FLEET_PREFIX, description: 'subject prefix and stream name part of this fleet on NATS' }),
  fleetSocket: Type.Optional(Type.String({ description: "unix socket (0600) taking JSON arrays of fleet messages, steward's way; default <dataDir>/fleet.sock, '' or off: none" })),
  fleetTcpListen: Type.Optional(Type.String({ description: "host:port taking JSON arrays of fleet messages, with no authentication; '' or off: none (the default)" })),
  fleetName: Type.String({ pattern: NODE_NAME_PATTERN, default: DEFAULT_FLEET_NAME, description: "this daemon's name as a message sender, what agents' --allowed-nodes list" }),
  outputs: Type.Array(OutputSchema, { default: [], description: 'where console lines and events are shipped as JSON records: [{name, type: tcp|udp|nats, address|url, tls?, labels?, maxQueued?}]' }),
  outputMaxLineBytes: Type.Integer({ minimum: 64, maximum: 60_000, default: 4096, description: 'a console line longer than this is sent to the outputs in pieces' }),
  outputIdleFlushMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500, description: 'a partial console line (a prompt) is sent to the outputs after this long without output' }),
  obmdCompat: Type.Boolean({ default: false, description: "serve OBMd's API at the root (PUT /node/{id}, ...) and read OBMd's environment variables" }),
  watchPatterns: Type.Array(WatchPatternSchema, { default: [], maxItems: 200, description: 'named regexes that turn matching console lines into events: [{name, regex, flags?, labels?, webhook?}]' }),
  watchBudgetMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000, description: 'a watch pattern still running after this long on a batch of lines is disabled' }),
  watchWebhookTries: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'attempts to POST a watch match to its webhook before giving up on it' }),
}, { additionalProperties: false });

export type Config = Static<typeof ConfigSchema>;
export type ConfigKey = keyof Config;
const check = TypeCompiler.Compile(ConfigSchema);

/** The dbPath that keeps the store in memory (OBMd allowed it too). */
export const SQLITE_MEMORY = ':memory:';

export function envName(key: string): string {
  return `SWITCHBOARD_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Settings present in the environment (strings; converted with the rest). */
export function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const v = env[envName(key)];
    if (v === undefined || v === '') continue;
    out[key] = key === 'breaks' || key === 'outputs' || key === 'watchPatterns' ? parseJsonSetting(envName(key), v) : v;
  }
  return out;
}

function parseJsonSetting(name: string, v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    throw new errors.CONFIG(`${name}: not valid JSON`);
  }
}

export async function fromFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new errors.CONFIG(`cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new errors.CONFIG(`${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new errors.CONFIG(`${file}: the top level must be a mapping`);
  const out = doc as Record<string, unknown>;
  // Relative paths in a config file are relative to that file.
  for (const key of ['dataDir', 'tlsCert', 'tlsKey', 'dbPath', 'fleetSocket', 'natsPasswordFile', 'natsNkey', 'natsCreds', 'natsCa', 'natsCert', 'natsKey']) {
    const v = out[key];
    if (typeof v === 'string' && v && v !== SQLITE_MEMORY && !isOff(v)) out[key] = path.resolve(path.dirname(file), v);
  }
  for (const o of Array.isArray(out.outputs) ? out.outputs : []) {
    const tls = (o as { tls?: { ca?: unknown } } | null)?.tls;
    if (tls && typeof tls === 'object' && typeof tls.ca === 'string') tls.ca = path.resolve(path.dirname(file), tls.ca);
  }
  return out;
}

/**
 * Merge the layers (later wins) and validate the result; unknown keys and bad values are refused
 * with the setting's name.
 */
export function resolveConfig(...layers: Record<string, unknown>[]): Config {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v;
  const converted = Value.Convert(ConfigSchema, merged) as Record<string, unknown>;
  const withDefaults = Value.Default(ConfigSchema, converted) as Record<string, unknown>;
  if (!check.Check(withDefaults)) {
    const e = check.Errors(withDefaults).First();
    const key = e?.path.slice(1).replaceAll('/', '.') || 'config';
    const hint = e?.schema && 'description' in e.schema && e.schema.description ? ` (${e.schema.description})` : '';
    throw new errors.CONFIG(`${key}: ${e?.message ?? 'invalid'}${hint}`);
  }
  const cfg = withDefaults as Config;
  if (cfg.reconnectMaxMs < cfg.reconnectMinMs) throw new errors.CONFIG('reconnectMaxMs must not be below reconnectMinMs');
  parseListen(cfg.listen);
  if (cfg.fleetTcpListen && !isOff(cfg.fleetTcpListen)) parseListen(cfg.fleetTcpListen, 'fleetTcpListen');
  parsePortRange('rawPortRange', cfg.rawPortRange);
  checkOutputs(cfg.outputs);
  checkWatchPatterns(cfg.watchPatterns);
  return cfg;
}

/** Flags, env, OBMd's env (with obmdCompat), file (named by flag, then env), defaults. */
export async function loadConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const envLayer = fromEnv(env);
  const file = (flags.config as string | undefined) ?? env.SWITCHBOARD_CONFIG;
  const fileLayer = file ? await fromFile(file) : {};
  const { config: _ignored, ...flagLayer } = flags;
  const obmdLayer = obmdCompatOn(fileLayer, envLayer, flagLayer) ? fromObmdEnv(env) : {};
  return resolveConfig(fileLayer, obmdLayer, envLayer, flagLayer);
}

/** Whether obmdCompat is on, by the usual precedence: only then is OBMd's environment read. */
function obmdCompatOn(...layers: Record<string, unknown>[]): boolean {
  const last = layers.map((l) => l.obmdCompat).filter((v) => v !== undefined).at(-1);
  return Value.Convert(Type.Boolean(), last) === true;
}

/**
 * OBMd's environment variables (its README, "Configuration") as settings, so an OBMd deployment's
 * environment starts Switchboard unchanged.
 */
export function fromObmdEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const out: Record<string, unknown> = {};
  const set = (key: ConfigKey, value: unknown) => {
    if (value !== undefined) out[key] = value;
  };
  const listen = get('LISTEN_ADDR');
  set('listen', listen === undefined ? undefined : fromGoListenAddr(listen));
  set('adminToken', get('ADMIN_TOKEN'));
  set('tlsCert', get('TLS_CERT'));
  set('tlsKey', get('TLS_KEY'));
  const insecure = get('INSECURE');
  set('insecure', insecure === undefined ? undefined : parseGoBool('INSECURE', insecure));
  set('dbPath', obmdDatabase(get('DB_TYPE'), get('DB_PATH')));
  return out;
}

/** Go's listen address: ':8080' means every interface. */
export function fromGoListenAddr(addr: string): string {
  const listen = addr.startsWith(':') ? `0.0.0.0${addr}` : addr;
  try {
    parseListen(listen);
  } catch {
    throw new errors.CONFIG(`LISTEN_ADDR: '${addr.slice(0, 100)}' is not host:port or :port`);
  }
  return listen;
}

/** As Go's strconv.ParseBool, which OBMd's settings went through. */
function parseGoBool(name: string, v: string): boolean {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw new errors.CONFIG(`${name}: '${v.slice(0, 20)}' is not true or false`);
}

/** The SQLite file OBMd's DB_TYPE/DB_PATH name. DB_PATH is never echoed: for postgres it holds a password. */
function obmdDatabase(type: string | undefined, dbPath: string | undefined): string | undefined {
  if (type === undefined) {
    if (dbPath !== undefined) throw new errors.CONFIG('DB_PATH is set but DB_TYPE is not: set DB_TYPE=sqlite3');
    return undefined;
  }
  if (type === 'sqlite3') return dbPath;
  if (type === 'postgres') {
    throw new errors.CONFIG('DB_TYPE=postgres: PostgreSQL support arrives with the cluster work; use DB_TYPE=sqlite3 with DB_PATH=<file> meanwhile');
  }
  throw new errors.CONFIG(`DB_TYPE: '${type.slice(0, 20)}' is not sqlite3 or postgres`);
}

export function parseListen(listen: string, key = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new errors.CONFIG(`${key}: '${listen}' is not host:port`);
  return { host: m[1] ?? m[2], port };
}

/** A path or address setting turned off: '' (a flag given empty) or the word off (env and YAML). */
export function isOff(value: string): boolean {
  return value === '' || value === 'off';
}

/** Where the fleet's unix socket listens: `fleetSocket`, or fleet.sock in the data dir; undefined when off. */
export function fleetSocketPath(cfg: Pick<Config, 'fleetSocket'>, dataDir: string): string | undefined {
  if (cfg.fleetSocket === undefined) return path.join(dataDir, 'fleet.sock');
  return isOff(cfg.fleetSocket) ? undefined : path.resolve(cfg.fleetSocket);
}

/** The fleet's TCP input, when one is set. */
export function fleetTcpListen(cfg: Pick<Config, 'fleetTcpListen'>): { host: string; port: number } | undefined {
  return cfg.fleetTcpListen && !isOff(cfg.fleetTcpListen) ? parseListen(cfg.fleetTcpListen, 'fleetTcpListen') : undefined;
}

/** `FIRST-LAST`, both within 1-65535, FIRST not above LAST. */
export function parsePortRange(key: string, value: string): PortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
  const [first, last] = [Number(m?.[1]), Number(m?.[2])];
  if (!m || first < 1 || last > 65535 || first > last) throw new errors.CONFIG(`${key}: '${value}' is not a port range FIRST-LAST within 1-65535`);
  return { first, last };
}
