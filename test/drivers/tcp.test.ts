// The tcp driver: the contract suite against socat serving a shell, connect failures with their
// reasons (refused, DNS, timeout against a port that never answers), and how a connection ends.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { connectTcp, describeSocketError } from '../../src/drivers/net.js';
import { tcpDriver } from '../../src/drivers/tcp.js';
import type { DriverContext } from '../../src/drivers/types.js';
import { freePort, startBlackhole, startSocatShell, type SocatShell } from '../support/peers.js';
import { driverContract } from './contract.js';

let socat: SocatShell;
let blackhole: { port: number; stop(): Promise<unknown> };
before(async () => {
  [socat, blackhole] = await Promise.all([startSocatShell(), startBlackhole()]);
});

driverContract('tcp', () => ({
  driver: tcpDriver,
  params: async () => ({ host: '127.0.0.1', port: socat.port }),
  async dropPeer() {
    await socat.stop();
  },
  async restorePeer() {
    await socat.start();
  },
  badParams: async () => ({ host: '127.0.0.1', port: await freePort() }),
  badReason: /^connection refused by 127\.0\.0\.1:\d+$/,
}));

const noHostKeys = { get: async () => undefined, remember: async (_e: string, f: string) => f, forget: async () => false };
function driverContext(node: string): DriverContext {
  return { node, cols: 80, rows: 24, logger: pino({ level: 'silent' }), hostKeys: noHostKeys };
}

describe('connectTcp', () => {
  test('a refused port, an unknown host and a port that never answers, each with its reason', async () => {
    const closed = await freePort();
    await assert.rejects(connectTcp('127.0.0.1', closed, 5000), { message: `connection refused by 127.0.0.1:${closed}` });
    await assert.rejects(connectTcp('no-such-host.invalid', 23, 5000), { message: 'cannot resolve no-such-host.invalid (DNS)' });
    const started = Date.now();
    await assert.rejects(connectTcp('127.0.0.1', blackhole.port, 300), { message: `timed out after 0.3s connecting to 127.0.0.1:${blackhole.port}` });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 3000, `the timeout took ${took}ms`);
  });

  test('aborting cancels a connect in progress', async () => {
    const cancel = new AbortController();
    const pending = connectTcp('127.0.0.1', blackhole.port, 10_000, cancel.signal);
    cancel.abort();
    await assert.rejects(pending, { message: 'connect cancelled' });
  });

  test('socket errors in words', () => {
    const err = (code: string) => Object.assign(new Error(`x ${code}`), { code });
    assert.equal(describeSocketError(err('ECONNRESET'), 'h', 1), 'connection reset by peer');
    assert.equal(describeSocketError(err('ECONNREFUSED'), '::1', 23), 'connection refused by [::1]:23');
    assert.equal(describeSocketError(err('EAI_AGAIN'), 'bmc.example', 23), 'cannot resolve bmc.example (DNS)');
    assert.equal(describeSocketError(err('EWHATEVER'), 'h', 2), 'h:2: x EWHATEVER');
    const aggregate = Object.assign(new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')], 'all failed'));
    assert.equal(describeSocketError(aggregate, 'localhost', 7), 'connection refused by localhost:7');
  });
});

describe('tcp driver', () => {
  const servers: net.Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  /** A one-shot peer that does `act` with the first connection. */
  async function peer(act: (s: net.Socket) => void): Promise<number> {
    const server = net.createServer(act);
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  }

  async function closeReason(port: number, afterOpen?: (c: ReturnType<typeof tcpDriver.create>) => void): Promise<string> {
    const c = tcpDriver.create({ host: '127.0.0.1', port }, driverContext('tcp-unit'));
    const reason = once(c, 'close');
    await c.open();
    afterOpen?.(c);
    return (await reason)[0] as string;
  }

  test('bytes both ways as they are; the peer hanging up is "closed by peer"', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    let got = Buffer.alloc(0);
    const port = await peer((s) => {
      s.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length === all.length) s.end(all);
      });
    });
    let echoed = Buffer.alloc(0);
    const reason = await closeReason(port, (c) => {
      c.on('data', (chunk: Buffer) => (echoed = Buffer.concat([echoed, chunk])));
      c.write(all);
    });
    assert.equal(reason, 'closed by peer');
    assert.deepEqual(got, all);
    assert.deepEqual(echoed, all);
  });

  test('a reset connection is "connection reset by peer"', async () => {
    const port = await peer((s) => s.once('data', () => s.resetAndDestroy()));
    assert.equal(await closeReason(port, (c) => c.write(Buffer.from('x'))), 'connection reset by peer');
  });

  test('close() ends the connection cleanly, and cancels a connect still in progress', async () => {
    let peerSawEnd: Promise<unknown> = Promise.resolve();
    const port = await peer((s) => {
      peerSawEnd = once(s, 'end');
      s.resume();
    });
    const c = tcpDriver.create({ host: '127.0.0.1', port }, driverContext('tcp-unit'));
    await c.open();
    assert.equal(c.info?.().remote, `127.0.0.1:${port}`);
    await c.close();
    await peerSawEnd;
    assert.deepEqual(c.info?.(), {});

    const stuck = tcpDriver.create({ host: '127.0.0.1', port: blackhole.port }, driverContext('tcp-unit'));
    const opening = stuck.open();
    await stuck.close();
    await assert.rejects(opening, { message: 'connect cancelled' });
  });
});
