// The `switchboard` command: the daemon (`serve`) and the client verbs, in one binary.
import { Command, Option } from 'commander';
import { generateToken } from '../daemon/admin-token.js';
import { LOG_FORMATS, VERSION } from '../daemon/logger.js';
import { auditCommand } from './audit.js';
import { ApiClient, CliError } from './client.js';
import { attachConsole } from './console.js';
import { runDemoConsole } from './demo-console.js';
import { fleetCommand, runCommand, sendCommand } from './fleet.js';
import { withNatsAuthOptions, withNatsVerbs } from './fleet-nats.js';
import { genCert } from './gen-cert.js';
import { logsCommand } from './logs.js';
import { nodeCommand } from './node.js';
import { noteCommand, outputsCommand } from './outputs.js';
import { bootDeviceCommand, powerCommand } from './power.js';
import { consoleLinkCommand, tokenCommand } from './token.js';

/** serve's and agent's --log-format (serve: also SWITCHBOARD_LOG_FORMAT and logFormat in the config). */
function logFormatOption(): Option {
  return new Option('--log-format <format>', 'text: readable lines; json: one JSON object per line (default: text on a terminal, else json)').choices(LOG_FORMATS);
}

export function buildProgram(): Command {
  const program = new Command('switchboard')
    .description('console server and control plane for server fleets')
    .version(VERSION)
    .option('--url <url>', 'daemon URL (env SWITCHBOARD_URL, default http://127.0.0.1:7860)')
    .option('--token <token>', 'API token (env SWITCHBOARD_TOKEN, default: ./data/admin-token)')
    .option('--ca <file>', 'PEM CA certificate to trust for an https daemon, e.g. the cert.pem of gen-cert (env SWITCHBOARD_CA)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .showHelpAfterError();

  withNatsAuthOptions(program.command('serve')
    .description('run the daemon (flags > SWITCHBOARD_* env > --config YAML > defaults)')
    .option('--listen <host:port>', 'HTTP/WebSocket address (default 127.0.0.1:7860)')
    .option('--console-port <port>', 'TCP console attach port on the listen host (default 7861; -1 off)')
    .option('--data-dir <dir>', 'store, console logs and admin token (default ./data)')
    .option('--admin-token <token>', 'admin token (default: generated once into the data dir)')
    .option('--config <file>', 'YAML config file')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)')
    .addOption(logFormatOption())
    .option('--demo', 'create a demo node with a simulated serial console')
    .option('--tls-cert <file>', 'PEM certificate (chain): HTTPS, WSS and TLS on the console port (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--insecure', 'allow plaintext on a non-loopback --listen address, and --fleet-tcp off loopback')
    .option('--obmd-compat', "also serve OBMd's API (PUT /node/{id}, ...) and read OBMd's env (LISTEN_ADDR, ADMIN_TOKEN, DB_TYPE, DB_PATH, ...)")
    .option('--nats <url>', 'NATS server with JetStream, nats://[user:password@]host:port: enables fleet messaging (env SWITCHBOARD_NATS_URL)')
    .option('--fleet-prefix <prefix>', 'subject prefix of this fleet on NATS (default sb)')
    .option('--fleet-socket <path>', "unix socket taking JSON arrays of fleet messages, steward's way (default <data-dir>/fleet.sock; '' or off: none)")
    .option('--fleet-tcp <host:port>', 'also take them on this TCP address, with no authentication: anyone who reaches it can submit (off by default)')
    .option('--fleet-name <name>', "this daemon's name as the sender of fleet messages, what agents' --allowed-nodes name (default central)"))
    // Loaded when used: the daemon's code (fastify, SQLite, ssh2, ...) stays out of the other commands' processes.
    .action(async (...args: Parameters<typeof import('./serve.js').serve>) => (await import('./serve.js')).serve(...args));

  withNatsAuthOptions(program.command('agent')
    .description("the fleet agent: run this node's signed messages from NATS JetStream")
    .requiredOption('--node <name>', 'this machine\'s node name')
    .option('--nats <url>', 'NATS server, nats://[user:password@]host:port (env SWITCHBOARD_NATS_URL)')
    .requiredOption('--allow-signer <key-or-file...>', 'accept messages signed by this key (sb-ed25519:... from `switchboard fleet signer`) or the keys in this file')
    .option('--data-dir <dir>', 'where the agent remembers executed message ids (default ./agent-data)')
    .option('--prefix <prefix>', 'subject prefix of the fleet (default sb, env SWITCHBOARD_FLEET_PREFIX)')
    .option('--ack-wait <seconds>', 'redeliver a message after this long without an ack (a running command extends it; default 30)')
    .option('--max-deliver <n>', 'deliveries of one message before JetStream gives up on it (default 5)')
    .option('--concurrency <n>', 'n-method messages (nCliCommand, nCliCommandCont) run at the same time (default 32)')
    .option('--hello-interval <seconds>', 'announce this agent to the daemon this often, and once at start (default 30)')
    .option('--methods <list>', 'run only these methods, comma-separated (cliCommand,httpGet or REQCliCommand,...; default all; op always runs)')
    .option('--allowed-nodes <list>', "take messages only from these senders (the daemon's --fleet-name, default central), comma-separated; default any")
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)')
    .addOption(logFormatOption()))
    // Loaded when used, and it loads only the fleet side: a small agent forks its commands cheaply.
    .action(async (...args: Parameters<typeof import('./agent.js').agent>) => (await import('./agent.js')).agent(...args));

  program.command('gen-cert')
    .description('write a self-signed certificate and key (cert.pem, key.pem) for serve --tls-cert/--tls-key')
    .option('--out <dir>', 'where to write them (default: the data dir, ./data or SWITCHBOARD_DATA_DIR)')
    .option('--host <name...>', 'more DNS names or IP addresses to cover (localhost, 127.0.0.1 and ::1 always are)')
    .option('--days <n>', 'days the certificate is valid', '365')
    .option('--force', 'replace existing cert.pem and key.pem', false)
    .action(genCert);

  program.command('gen-token')
    .description('print a new random 128-bit token (hex)')
    .action(() => {
      process.stdout.write(`${generateToken()}\n`);
    });

  program.addCommand(nodeCommand());
  program.addCommand(powerCommand());
  program.addCommand(bootDeviceCommand());
  program.addCommand(tokenCommand());
  program.addCommand(auditCommand());
  program.addCommand(logsCommand());
  program.addCommand(consoleLinkCommand());
  program.addCommand(withNatsVerbs(fleetCommand()));
  program.addCommand(sendCommand());
  program.addCommand(runCommand());
  program.addCommand(noteCommand());
  program.addCommand(outputsCommand());

  program.command('console')
    .description('attach to a node\'s console; Ctrl-E c . detaches, Ctrl-E c ? lists the escapes')
    .argument('<node>')
    .option('--ro', 'read-only (spy)', false)
    .option('--no-replay', 'do not print recent output first')
    .option('--linger <ms>', 'with piped input: keep printing output this long after the input ends', '1000')
    .action(async (node: string, o, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ url?: string; token?: string; ca?: string }>();
      const linger = Number(o.linger);
      if (!Number.isFinite(linger) || linger < 0) throw new CliError('USAGE', '--linger must be a number of milliseconds', 2);
      process.exitCode = await attachConsole(new ApiClient(g), node, { ro: o.ro, replay: o.replay, lingerMs: linger });
    });

  // The demo node's console program; not meant for people.
  program.command('demo-console', { hidden: true })
    .option('--boot-delay <ms>', 'pause between boot log lines', '60')
    .action((o) => runDemoConsole({ bootDelayMs: Number(o.bootDelay) }));

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; message?: string; exitCode?: number };
    process.stderr.write(`switchboard: ${e.code && !e.code.startsWith('ERR_') ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}
