// The `outputs` setting: where console lines and events are shipped besides the log file.
// The schema lives here, beside the sinks; daemon/config.ts puts it in the config.
import { Type, type Static } from '@sinclair/typebox';
import { errors } from '../errors.js';
import { carriesLabels } from '../model/node.js';

export const OUTPUT_TYPES = ['tcp', 'udp', 'nats'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

export const OutputSchema = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'shown in stats and logs' }),
  type: Type.Union(OUTPUT_TYPES.map((t) => Type.Literal(t))),
  address: Type.Optional(Type.String({ minLength: 1, description: 'host:port (tcp, udp)' })),
  url: Type.Optional(Type.String({ pattern: '^(nats|tls)://', description: 'NATS server (nats); may hold user:password' })),
  tls: Type.Optional(Type.Union([
    Type.Boolean(),
    Type.Object({
      ca: Type.Optional(Type.String({ minLength: 1, description: "PEM CA file that signed the receiver's certificate" })),
      insecure: Type.Optional(Type.Boolean({ description: "accept any certificate (testing only)" })),
    }, { additionalProperties: false }),
  ], { description: 'tcp and nats: speak TLS (true: trust the system CAs)' })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'only nodes with all these labels' })),
  maxQueued: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'records held while the receiver is slow or away; beyond, the oldest are dropped' })),
}, { additionalProperties: false });

export type OutputConfig = Static<typeof OutputSchema>;

export const DEFAULT_MAX_QUEUED = 10_000;

/** The TLS setting as options: undefined is plaintext. */
export function tlsSetting(o: OutputConfig): { ca?: string; insecure?: boolean } | undefined {
  if (o.tls === undefined || o.tls === false) return undefined;
  return o.tls === true ? {} : o.tls;
}

/** host:port of a tcp or udp output; [v6]:port too. */
export function parseAddress(o: OutputConfig): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(o.address ?? '');
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new errors.CONFIG(`outputs.${o.name}.address: '${o.address ?? ''}' is not host:port`);
  return { host: m[1] ?? m[2], port };
}

/** What the schema cannot say: names are unique, each type has its address, TLS only where it applies. */
export function checkOutputs(outputs: OutputConfig[]): void {
  const seen = new Set<string>();
  for (const o of outputs) {
    if (seen.has(o.name)) throw new errors.CONFIG(`outputs: the name '${o.name}' is used twice`);
    seen.add(o.name);
    if (o.type === 'nats') {
      if (!o.url) throw new errors.CONFIG(`outputs.${o.name}: a nats output needs url (nats://host:port)`);
      if (o.address) throw new errors.CONFIG(`outputs.${o.name}: a nats output takes url, not address`);
      if (!URL.canParse(o.url) || !new URL(o.url).hostname) throw new errors.CONFIG(`outputs.${o.name}.url: not a URL with a host (nats://host:port)`);
    } else {
      parseAddress(o);
      if (o.url) throw new errors.CONFIG(`outputs.${o.name}: a ${o.type} output takes address, not url`);
    }
    if (o.type === 'udp' && tlsSetting(o)) throw new errors.CONFIG(`outputs.${o.name}: udp cannot speak TLS (use tcp)`);
  }
}

/** Whether a node with these labels gets this output's records. */
export function selects(o: Pick<OutputConfig, 'labels'>, labels: Record<string, string>): boolean {
  return !o.labels || carriesLabels(labels, o.labels);
}
