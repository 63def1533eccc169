// nats-server `authorization` users for a fleet: one per agent node, allowed exactly what that
// agent does and nothing of any other node, and one for the controller (the daemon). Every name
// comes from FleetSubjects, so the permissions follow the subject layout when it changes.
//
// What an agent does on NATS, and the subject each step needs (nats.js v2, nats-server >= 2.9):
//   JetStream account info          $JS.API.INFO
//   checks that the streams exist   $JS.API.STREAM.INFO.<stream>            (never creates them)
//   sets up its consumer(s)         $JS.API.CONSUMER.INFO / CREATE.<stream>.<consumer>.<filter>
//   pulls and acks its messages     $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>, $JS.ACK.<stream>.<consumer>.>
//   replies, hellos, its errors     <prefix>.reply.<node>.*, <prefix>.hello.<node>, <prefix>.errlog.<node>
//   reads the answers to all that   its own inbox, _INBOX_<node>.> (agentInboxPrefix)
// CONSUMER.CREATE names the filter subject and the server checks it matches the consumer's, so
// one node cannot make its consumer read another node's subject. The older DURABLE.CREATE
// (no filter in the subject) is left out on purpose.
import { nodeToken, type FleetSubjects } from './nats-transport.js';

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

/** How the user logs in: an nkey (public key U...) or a user name and password. */
export type NatsIdentity = { nkey: string } | { user: string; password: string };

/**
 * The agent's replies (JetStream API answers, publish acks) come on subjects under this prefix,
 * so the server can let only this node's user read them; the default _INBOX is anyone's.
 */
export function agentInboxPrefix(node: string): string {
  return `_INBOX_${nodeToken(node)}`;
}

export function agentPermissions(subjects: FleetSubjects, node: string): NatsPermissions {
  const { cmdStream, replyStream } = subjects;
  const consumers = subjects.agentConsumers(node).flatMap(({ durable, filter }) => [
    `$JS.API.CONSUMER.INFO.${cmdStream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${cmdStream}.${durable}.${filter}`,
    `$JS.API.CONSUMER.MSG.NEXT.${cmdStream}.${durable}`,
    `$JS.ACK.${cmdStream}.${durable}.>`,
  ]);
  return {
    publish: [
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${cmdStream}`,
      `$JS.API.STREAM.INFO.${replyStream}`,
      ...consumers,
      // Its own node's replies only: the controller also checks the node in the subject.
      subjects.reply(node, '*'),
      subjects.hello(node),
      subjects.errlog(node),
    ],
    subscribe: [`${agentInboxPrefix(node)}.>`],
  };
}

/**
 * The daemon: everything under the fleet prefix, the JetStream API (it makes the streams), its
 * acks, its inbox, and JetStream's advisory that it gave up on a command (max deliveries).
 */
export function controllerPermissions(subjects: FleetSubjects): NatsPermissions {
  return {
    publish: [`${subjects.prefix}.>`, '$JS.API.>', `$JS.ACK.${subjects.replyStream}.>`],
    subscribe: [`${subjects.prefix}.>`, '_INBOX.>', `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${subjects.cmdStream}.*`],
  };
}

/** One entry of nats-server's `authorization { users = [ ... ] }`, in its config syntax. */
export function natsUserEntry(identity: NatsIdentity, permissions: NatsPermissions, comment: string): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (subjects: string[]) => `[\n${subjects.map((s) => `      ${q(s)}`).join(',\n')}\n    ]`;
  const who = 'nkey' in identity ? `  nkey: ${q(identity.nkey)}` : `  user: ${q(identity.user)}\n  password: ${q(identity.password)}`;
  return [
    `# ${comment}`,
    '{',
    who,
    '  permissions: {',
    `    publish: { allow: ${list(permissions.publish)} }`,
    `    subscribe: { allow: ${list(permissions.subscribe)} }`,
    '  }',
    '}',
  ].join('\n');
}

/**
 * The same permissions for a nats-server in operator mode, where they live in the user's JWT: the
 * `nsc add user` command that makes the user with them (nsc makes its key; `nsc generate creds`
 * then writes the creds file for --nats-creds). Quoted for a POSIX shell: subjects hold $, * and >.
 */
export function nscAddUser(account: string, name: string, permissions: NatsPermissions): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'nsc add user', `--account ${q(account)}`, `--name ${q(name)}`,
    `--allow-pub ${q(permissions.publish.join(','))}`, `--allow-sub ${q(permissions.subscribe.join(','))}`,
  ].join(' ');
}
