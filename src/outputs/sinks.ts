// The configured outputs as sinks: the CA files read (on the daemon's thread, at start, so a
// missing file is a config error), then each sink made where it runs (the sink thread).
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.js';
import { DEFAULT_MAX_QUEUED, parseAddress, tlsSetting, type OutputConfig } from './config.js';
import { NatsSink } from './nats-sink.js';
import { TcpSink } from './tcp-sink.js';
import type { Sink, SinkLogger } from './types.js';
import { UdpSink } from './udp-sink.js';

/** An output with its TLS setting resolved: the CA's PEM text, not its file. */
export interface ResolvedOutput {
  config: OutputConfig;
  tls?: { ca?: string; insecure?: boolean };
}

export async function resolveOutputs(outputs: OutputConfig[]): Promise<ResolvedOutput[]> {
  const out: ResolvedOutput[] = [];
  for (const config of outputs) {
    const t = tlsSetting(config);
    out.push({ config, tls: t && { insecure: t.insecure, ca: t.ca === undefined ? undefined : await readCa(config.name, t.ca) } });
  }
  return out;
}

export function openSink({ config: o, tls }: ResolvedOutput, logger: SinkLogger): Sink {
  const maxQueued = o.maxQueued ?? DEFAULT_MAX_QUEUED;
  switch (o.type) {
    case 'tcp':
      return new TcpSink({ name: o.name, ...parseAddress(o), tls, maxQueued, logger });
    case 'udp':
      return new UdpSink({ name: o.name, ...parseAddress(o), maxQueued, logger });
    case 'nats':
      return new NatsSink({ name: o.name, url: o.url!, tls, maxQueued, logger });
  }
}

async function readCa(name: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new errors.CONFIG(`outputs.${name}.tls.ca: cannot read ${file}: ${(err as Error).message}`);
  }
}
