// The telnet driver: the contract suite against ser2net in telnet mode serving a shell on a pty,
// and what goes on the wire for a server that asks for window size and terminal type.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { BRK, DO, ECHO, IAC, NAWS, SB, SE, TTYPE, WILL } from '../../src/drivers/telnet-protocol.js';
import { telnetDriver } from '../../src/drivers/telnet.js';
import { freePort, startSer2net, startSerialMachine, type Ser2net } from '../support/peers.js';
import { waitUntil } from '../support/wait.js';
import { driverContract } from './contract.js';

let ser2net: Ser2net;
before(async () => {
  const machine = await startSerialMachine();
  ser2net = await startSer2net([{ mode: 'telnet', device: machine.device }]);
});

driverContract('telnet', () => ({
  driver: telnetDriver,
  params: async () => ({ host: '127.0.0.1', port: ser2net.ports[0] }),
  async dropPeer() {
    await ser2net.stop();
  },
  async restorePeer() {
    await ser2net.start();
  },
  badParams: async () => ({ host: '127.0.0.1', port: await freePort() }),
  badReason: /^connection refused by 127\.0\.0\.1:\d+$/,
}));

describe('telnet driver on the wire', () => {
  const b = (...bytes: (number | string)[]) => Buffer.concat(bytes.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));
  let server: net.Server;
  after(() => server?.close());

  test('answers DO NAWS with the size and follows resizes, sends its terminal type, BREAK and IAC doubled', async () => {
    let received = Buffer.alloc(0);
    const wakers = new Set<() => void>();
    const seen = (bytes: Buffer, what: string) =>
      waitUntil(() => received.includes(bytes), {
        what,
        subscribe: (wake) => {
          wakers.add(wake);
          return () => wakers.delete(wake);
        },
        describe: () => received.toString('hex'),
      });
    let peer!: net.Socket;
    server = net.createServer((s) => {
      peer = s;
      s.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        for (const w of wakers) w();
      });
      // A server that wants the window size and the terminal type, echoes, and greets.
      s.write(b(IAC, DO, NAWS, IAC, DO, TTYPE, IAC, WILL, ECHO, IAC, SB, TTYPE, 1, IAC, SE, 'login: '));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;

    const noHostKeys = { get: async () => undefined, remember: async (_e: string, f: string) => f, forget: async () => false };
    const c = telnetDriver.create({ host: '127.0.0.1', port, term: 'vt220' }, { node: 'telnet-unit', cols: 120, rows: 40, logger: pino({ level: 'silent' }), hostKeys: noHostKeys });
    let output = '';
    c.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
    await c.open();

    await seen(b(IAC, WILL, NAWS, IAC, SB, NAWS, 0, 120, 0, 40, IAC, SE), 'WILL NAWS and the size');
    await seen(b(IAC, WILL, TTYPE), 'WILL TTYPE');
    await seen(b(IAC, SB, TTYPE, 0, 'vt220', IAC, SE), 'TTYPE IS vt220');
    await seen(b(IAC, DO, ECHO), 'DO ECHO');
    c.resize?.(255, 50);
    await seen(b(IAC, SB, NAWS, 0, 255, 255, 0, 50, IAC, SE), 'the new size, 255 doubled');
    await c.sendBreak?.();
    await seen(b(IAC, BRK), 'IAC BRK');
    c.write(b('root', 0xff, '\r'));
    // The server never offered BINARY, so a lone CR goes as CR NUL.
    await seen(b('root', 0xff, 0xff, '\r', 0), 'typed bytes, IAC doubled');
    assert.equal(output, 'login: ', 'the negotiation is not console output');
    assert.deepEqual(c.info?.().telnetOptions, { local: ['ttype', 'naws'], remote: ['echo'] });

    const closed = once(c, 'close');
    peer.end();
    assert.deepEqual(await closed, ['closed by peer']);
  });
});
