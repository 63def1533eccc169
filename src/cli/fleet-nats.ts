// The NATS side of the fleet on the command line: the credential and TLS flags `serve` and `agent`
// share, and `switchboard fleet nkey` / `fleet nats-permissions` for writing nats-server.conf
// (docs/fleet-nats.md).
import { readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { nkeys } from 'nats';
import type { NatsSettings } from '../fleet/nats-connect.js';
import { agentPermissions, controllerPermissions, natsUserEntry, nscAddUser, type NatsIdentity } from '../fleet/nats-permissions.js';
import { DEFAULT_FLEET_PREFIX, FleetSubjects } from '../fleet/nats-transport.js';
import { isValidNodeName } from '../model/node.js';
import { CliError } from './client.js';

/** What withNatsAuthOptions adds to a command's options: commander names --nats-user natsUser, the setting's name. */
export type NatsFlags = Omit<NatsSettings, 'natsUrl' | 'natsPassword'>;

/** The same flags on `serve` (config keys natsUser, ...) and `agent`; each also from SWITCHBOARD_NATS_*. */
export function withNatsAuthOptions(cmd: Command): Command {
  return cmd
    .option('--nats-user <name>', 'NATS user; the password from --nats-password-file or env SWITCHBOARD_NATS_PASSWORD')
    .option('--nats-password-file <file>', "file whose first line is the NATS user's password")
    .option('--nats-nkey <file>', 'NATS nkey user seed file (from `switchboard fleet nkey`)')
    .option('--nats-creds <file>', 'NATS JWT user creds file (nsc, operator mode)')
    .option('--nats-ca <file>', "PEM CA that signed the NATS server's certificate (turns TLS on)")
    .option('--nats-cert <file>', 'PEM client certificate for NATS, with --nats-key')
    .option('--nats-key <file>', 'PEM private key of --nats-cert');
}

export function withNatsVerbs(fleet: Command): Command {
  fleet.command('nkey')
    .description('make a new NATS nkey user: writes its seed to FILE (keep it secret, give it to --nats-nkey) and prints its public key (for nats-server.conf)')
    .requiredOption('--out <file>', 'the seed file to write; an existing file is not replaced')
    .action(async (o: { out: string }) => {
      const user = nkeys.createUser();
      const seed = new TextDecoder().decode(user.getSeed());
      const publicKey = user.getPublicKey();
      await writeFile(o.out, `# NATS nkey user ${publicKey}: switchboard --nats-nkey ${o.out}\n${seed}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(err.code === 'EEXIST' ? 'EXISTS' : 'WRITE_FAILED', `${o.out}: ${err.code === 'EEXIST' ? 'already exists' : err.message}`);
      });
      process.stdout.write(`${publicKey}\n`);
    });

  fleet.command('nats-permissions')
    .description("print a nats-server.conf `authorization` user allowed exactly what NODE's agent needs (or, with --controller, what the daemon needs); --nsc: the `nsc add user` command for operator mode; -o json: the subject lists")
    .argument('[node]', "the agent's node name")
    .option('--controller', "the daemon's user instead of an agent's")
    .option('--prefix <prefix>', 'subject prefix of the fleet', DEFAULT_FLEET_PREFIX)
    .option('--nkey <public-key>', "the user's nkey public key (U..., from `fleet nkey`)")
    .option('--user <name>', 'a user name instead of an nkey, with --password-file')
    .option('--password-file <file>', "file whose first line is that user's password")
    .option('--nsc <account>', 'operator mode: print the `nsc add user` command that makes this user in ACCOUNT (JetStream enabled) with these permissions in its JWT')
    .action(async (node: string | undefined, o: { controller?: boolean; prefix: string; nkey?: string; user?: string; passwordFile?: string; nsc?: string }, cmd: Command) => {
      if (!o.controller && (!node || !isValidNodeName(node))) throw new CliError('USAGE', 'give the agent\'s node name, or --controller', 2);
      const subjects = new FleetSubjects(o.prefix);
      const permissions = o.controller ? controllerPermissions(subjects) : agentPermissions(subjects, node!);
      const json = cmd.optsWithGlobals<{ output?: string }>().output === 'json';
      if (o.nsc !== undefined || json) {
        // nsc makes the user's key, and the lists carry no identity.
        if (o.nkey || o.user || o.passwordFile) throw new CliError('USAGE', `${json ? '-o json' : '--nsc'} prints no user entry: leave out --nkey, --user and --password-file`, 2);
        if (json) return void process.stdout.write(`${JSON.stringify(permissions, null, 2)}\n`);
        if (!/^[A-Za-z0-9_.-]+$/.test(o.nsc!)) throw new CliError('USAGE', `--nsc: '${o.nsc!.slice(0, 60)}' is not an account name`, 2);
        return void process.stdout.write(`${nscAddUser(o.nsc!, o.controller ? 'switchboard' : node!, permissions)}\n`);
      }
      const identity = await userIdentity(o);
      const who = o.controller ? `switchboard serve (fleet prefix ${o.prefix})` : `switchboard agent --node ${node} (fleet prefix ${o.prefix})`;
      process.stdout.write(`${natsUserEntry(identity, permissions, who)}\n`);
    });
  return fleet;
}

async function userIdentity(o: { nkey?: string; user?: string; passwordFile?: string }): Promise<NatsIdentity> {
  if (o.nkey && !o.user) {
    if (!/^U[A-Z2-7]{55}$/.test(o.nkey)) throw new CliError('USAGE', `--nkey: '${o.nkey.slice(0, 60)}' is not an nkey user public key (U..., 56 characters)`, 2);
    return { nkey: o.nkey };
  }
  if (o.user && !o.nkey && o.passwordFile) {
    const password = (await readFile(o.passwordFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new CliError('USAGE', `--password-file: cannot read ${o.passwordFile}: ${err.code ?? err.message}`, 2);
    })).split(/\r?\n/)[0];
    if (!password) throw new CliError('USAGE', `--password-file: ${o.passwordFile} is empty`, 2);
    return { user: o.user, password };
  }
  throw new CliError('USAGE', 'give either --nkey PUBLIC-KEY or --user NAME with --password-file FILE', 2);
}
