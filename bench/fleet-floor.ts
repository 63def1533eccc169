// The transport's floor: how many messages a second JetStream itself carries on this machine with
// the fleet's pattern (publish to a work-queue stream, a durable pull consumer per node, ack, a
// reply published to a second stream, the controller's consumer acking it) and no Switchboard code
// at all: no signing, no store, no audit, no child processes. What bench/fleet.ts measures cannot
// go faster than this; the ≥ 10,000 msgs/s target is checked against it.
//
//   npx tsx bench/fleet-floor.ts            (NATS_URL, default nats://127.0.0.1:4222)
//   FLOOR_NODES=1,10,100 FLOOR_MESSAGES=10000 FLOOR_BATCH=1,10 FLOOR_PROCESSES=one|each FLOOR_PREFETCH=1
//
// FLOOR_PROCESSES=each runs every node's consumer in a Node process of its own, as the fleet's
// agents are (the default, one, runs them all in one process: the transport alone).
//
// FLOOR_BATCH > 1 carries that many messages in one JetStream message (and their replies in one):
// the cost if the fleet grouped what one POST sends to one node.
//
// FLOOR_PREFETCH > 1 lets a node's consumer hold that many JetStream messages unacked and run
// those that wait together, their replies in one publish: the cost if an agent took its ordered
// lane's next envelopes while one runs.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { AckPolicy, connect, nanos, RetentionPolicy, StorageType, type JsMsg, type NatsConnection } from 'nats';

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const EACH = process.env.FLOOR_PROCESSES === 'each';
/** Envelopes a node's consumer may hold unacked (max_ack_pending); above 1 they are run in groups (agents()). */
const PREFETCH = Number(process.env.FLOOR_PREFETCH ?? 1);

function ticks(pid: number): number {
  // utime + stime of every thread, in clock ticks (100/s).
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

function natsServerPid(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'nats-server') return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

async function agents(prefix: string, from: number, to: number): Promise<void> {
  const nc = await connect({ servers: url });
  const js = nc.jetstream();
  for (let i = from; i < to; i++) {
    const consumer = await js.consumers.get(`${prefix}-cmd`, `n${i}`);
    if (PREFETCH > 1) {
      // Envelopes taken as they come, up to PREFETCH unacked, run in order one group at a time: those
      // waiting when a group starts are one group, their replies one publish.
      void (async () => {
        const msgs = await consumer.consume({ max_messages: PREFETCH });
        let waiting: JsMsg[] = [];
        let busy = false;
        const work = async () => {
          while (waiting.length > 0) {
            const group = waiting;
            waiting = [];
            const ids = group.flatMap((m) => (JSON.parse(m.string()) as { ids: string[] }).ids);
            await js.publish(`${prefix}.reply.n${i}`, Buffer.from(JSON.stringify({ ids, ok: true })));
            for (const m of group) m.ack();
          }
          busy = false;
        };
        for await (const m of msgs) {
          waiting.push(m);
          if (!busy) {
            busy = true;
            setImmediate(() => void work());
          }
        }
      })();
      continue;
    }
    void (async () => {
      const msgs = await consumer.consume({ max_messages: 1 });
      for await (const m of msgs) {
        const ids = JSON.parse(m.string()) as { ids: string[] };
        await js.publish(`${prefix}.reply.n${i}`, Buffer.from(JSON.stringify({ ids: ids.ids, ok: true })));
        m.ack();
      }
    })();
  }
  process.send!('ready');
}

async function run(nodes: number, messages: number, batch: number, natsPid: number | undefined): Promise<string> {
  const prefix = `floor-${randomUUID().slice(0, 8)}`;
  const nc: NatsConnection = await connect({ servers: url });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  for (const kind of ['cmd', 'reply']) {
    await jsm.streams.add({ name: `${prefix}-${kind}`, subjects: [`${prefix}.${kind}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  }
  for (let i = 0; i < nodes; i++) {
    await jsm.consumers.add(`${prefix}-cmd`, { durable_name: `n${i}`, filter_subject: `${prefix}.cmd.n${i}`, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: PREFETCH });
  }
  await jsm.consumers.add(`${prefix}-reply`, { durable_name: 'c', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000) });
  const children: ChildProcess[] = [];
  const spawnAgents = async (from: number, to: number) => {
    const child = fork(new URL(import.meta.url).pathname, ['agents', prefix, String(from), String(to)], { execArgv: ['--import', 'tsx'] });
    children.push(child);
    await new Promise((resolve) => child.once('message', resolve));
  };
  if (EACH) {
    // A few at a time: 100 processes loading tsx at once on two cores take minutes.
    for (let i = 0; i < nodes; i += 10) await Promise.all(Array.from({ length: Math.min(10, nodes - i) }, (_, k) => spawnAgents(i + k, i + k + 1)));
  } else {
    await spawnAgents(0, nodes);
  }
  const childTicks = () => children.reduce((sum, c) => sum + ticks(c.pid!), 0);

  let replied = 0;
  let replyMessages = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => { done = resolve; });
  const replies = await (await js.consumers.get(`${prefix}-reply`, 'c')).consume({ max_messages: 1000 });
  void (async () => {
    for await (const m of replies) {
      replyMessages++;
      replied += (JSON.parse(m.string()) as { ids: string[] }).ids.length;
      m.ack();
      if (replied >= messages) done();
    }
  })();

  const cpu0 = { me: ticks(process.pid), child: childTicks(), nats: natsPid ? ticks(natsPid) : 0 };
  const t0 = performance.now();
  const pubs: Promise<unknown>[] = [];
  for (let sent = 0; sent < messages; sent += batch) {
    const node = (sent / batch) % nodes;
    const ids = Array.from({ length: Math.min(batch, messages - sent) }, () => randomUUID());
    pubs.push(js.publish(`${prefix}.cmd.n${node}`, Buffer.from(JSON.stringify({ ids, method: 'hello', data: [] }))));
    if (pubs.length >= 1000) await Promise.all(pubs.splice(0));
  }
  await Promise.all(pubs);
  await all;
  const ms = performance.now() - t0;
  const cpu = {
    me: (ticks(process.pid) - cpu0.me) * 10, child: (childTicks() - cpu0.child) * 10,
    nats: natsPid ? (ticks(natsPid) - cpu0.nats) * 10 : NaN,
  };
  for (const c of children) c.kill();
  await replies.close();
  for (const kind of ['cmd', 'reply']) await jsm.streams.delete(`${prefix}-${kind}`);
  await nc.close();
  const per = (x: number) => (x / messages).toFixed(3);
  if (PREFETCH > 1) console.error(`prefetch ${PREFETCH}: ${(messages / batch / replyMessages).toFixed(2)} JetStream messages answered per reply publish`);
  return `| ${nodes} | ${batch} | ${messages} | ${ms.toFixed(0)} | ${Math.round(messages / (ms / 1000))} | ${per(cpu.me)} / ${per(cpu.child)} / ${per(cpu.nats)} |`;
}

if (process.argv[2] === 'agents') {
  await agents(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
} else {
  const list = (v: string | undefined, d: string) => (v ?? d).split(',').map(Number);
  const natsPid = natsServerPid();
  console.log(`Consumers: ${EACH ? 'a Node process per node' : 'all in one Node process'}\n`);
  console.log('| nodes | messages per JetStream message | messages | ms | msgs/s | CPU ms per message: controller / agents / nats-server |');
  console.log('|---|---|---|---|---|---|');
  for (const batch of list(process.env.FLOOR_BATCH, '1,10')) {
    for (const nodes of list(process.env.FLOOR_NODES, '1,10,100')) {
      console.log(await run(nodes, Number(process.env.FLOOR_MESSAGES ?? 10000), batch, natsPid));
    }
  }
}
