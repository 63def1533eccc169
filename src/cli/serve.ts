// `switchboard serve`: run the daemon until SIGTERM/SIGINT, then stop cleanly and exit 0.
import { loadConfig } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import type { NatsFlags } from './fleet-nats.js';

export interface ServeFlags extends NatsFlags {
  listen?: string;
  dataDir?: string;
  adminToken?: string;
  consolePort?: string;
  config?: string;
  logLevel?: string;
  logFormat?: string;
  demo?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  obmdCompat?: boolean;
  nats?: string;
  fleetPrefix?: string;
  fleetSocket?: string;
  fleetTcp?: string;
  fleetName?: string;
}

export async function serve(flags: ServeFlags): Promise<void> {
  const { nats, fleetTcp, ...rest } = flags;
  const config = await loadConfig({ ...rest, natsUrl: nats, fleetTcpListen: fleetTcp });
  const daemon = await Daemon.start(config);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      daemon.logger.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    daemon.stop(`daemon stopping (${sig})`).then(
      () => process.exit(0),
      (err) => {
        daemon.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
