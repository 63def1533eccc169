// `switchboard agent`: the fleet agent on a node's own OS, until SIGTERM/SIGINT.
import path from 'node:path';
import { envName } from '../daemon/config.js';
import { createLogger, VERSION, type LogFormat } from '../daemon/logger.js';
import { FleetAgent } from '../fleet/agent.js';
import { parseMethodList, parseNodeList } from '../fleet/method-policy.js';
import { NATS_SETTINGS, type NatsSettings } from '../fleet/nats-connect.js';
import { DEFAULT_FLEET_PREFIX } from '../fleet/nats-transport.js';
import { loadAllowedSigners } from '../fleet/signer-keys.js';
import { isValidNodeName } from '../model/node.js';
import { CliError } from './client.js';
import type { NatsFlags } from './fleet-nats.js';

export interface AgentFlags extends NatsFlags {
  node: string;
  nats?: string;
  allowSigner: string[];
  dataDir?: string;
  prefix?: string;
  logLevel?: string;
  logFormat?: LogFormat;
  ackWait?: string;
  maxDeliver?: string;
  helloInterval?: string;
  concurrency?: string;
  methods?: string;
  allowedNodes?: string;
}

export async function agent(flags: AgentFlags): Promise<void> {
  if (!isValidNodeName(flags.node)) throw new CliError('USAGE', `--node '${String(flags.node).slice(0, 80)}' is not a node name`, 2);
  const natsUrl = flags.nats || process.env.SWITCHBOARD_NATS_URL;
  if (!natsUrl) throw new CliError('USAGE', 'the agent needs --nats URL (or SWITCHBOARD_NATS_URL)', 2);
  const policy = {
    ...(flags.methods !== undefined && { methods: parseMethodList(flags.methods) }),
    ...(flags.allowedNodes !== undefined && { allowedNodes: parseNodeList(flags.allowedNodes) }),
  };
  const logger = createLogger(flags.logLevel ?? 'info', flags.logFormat);
  const options = {
    node: flags.node,
    nats: natsSettings(flags, natsUrl),
    prefix: flags.prefix ?? process.env.SWITCHBOARD_FLEET_PREFIX ?? DEFAULT_FLEET_PREFIX,
    dataDir: path.resolve(flags.dataDir ?? './agent-data'),
    allowed: await loadAllowedSigners(flags.allowSigner),
    logger,
    version: VERSION,
    policy,
    ...(flags.ackWait && { ackWaitMs: wholeNumber('--ack-wait', flags.ackWait) * 1000 }),
    ...(flags.maxDeliver && { maxDeliver: wholeNumber('--max-deliver', flags.maxDeliver) }),
    ...(flags.concurrency && { concurrency: wholeNumber('--concurrency', flags.concurrency) }),
    ...(flags.helloInterval && { helloIntervalMs: wholeNumber('--hello-interval', flags.helloInterval) * 1000 }),
  };
  // Told to stop while it still waits for NATS (a link that is down): it just ends.
  const starting = new AbortController();
  const stopWhileStarting = (sig: NodeJS.Signals) => {
    logger.info({ signal: sig }, 'fleet agent stopping');
    starting.abort();
  };
  process.once('SIGTERM', stopWhileStarting);
  process.once('SIGINT', stopWhileStarting);
  let fleetAgent: FleetAgent;
  try {
    fleetAgent = await FleetAgent.start({ ...options, signal: starting.signal });
  } catch (err) {
    if (starting.signal.aborted) return; // nothing runs yet: the process ends by itself
    throw err;
  } finally {
    process.off('SIGTERM', stopWhileStarting);
    process.off('SIGINT', stopWhileStarting);
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(1);
    logger.info({ signal: sig }, 'fleet agent stopping');
    fleetAgent.stop().then(() => process.exit(0), (err) => {
      logger.error({ err }, 'fleet agent stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Each from its flag, else SWITCHBOARD_NATS_* as for `serve`; the password only from the environment or a file, never argv. */
function natsSettings(flags: AgentFlags, natsUrl: string): NatsSettings {
  const settings: NatsSettings = { natsUrl };
  for (const key of NATS_SETTINGS) {
    if (key === 'natsUrl') continue;
    const value = (key === 'natsPassword' ? undefined : flags[key]) || process.env[envName(key)];
    if (value) settings[key] = value;
  }
  return settings;
}

function wholeNumber(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError('USAGE', `${flag}: '${value}' is not a positive whole number`, 2);
  return n;
}
