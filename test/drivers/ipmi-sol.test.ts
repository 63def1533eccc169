// The ipmi-sol driver: the contract suite against ipmi_sim whose serial line has a shell behind it
// (dropPeer kills the simulator with -9, restorePeer starts it again on the same port), then
// what an operator meets: a payload left busy by a killed client, a wrong password, no BMC.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { builtinDrivers } from '../../src/drivers/index.js';
import { ipmiSolDriver, type IpmiSolConsole } from '../../src/drivers/ipmi-sol.js';
import type { DriverContext } from '../../src/drivers/types.js';
import { driverOutput } from '../support/console-clients.js';
import { BMC_PASSWORD, BMC_USER, IpmitoolSol, startBmcSim, type BmcSim } from '../support/bmc-sim.js';
import { exited } from '../support/processes.js';
import { driverContract } from './contract.js';

let bmc: BmcSim;
before(async () => {
  bmc = await startBmcSim({ serial: 'shell' });
});
after(() => bmc?.stop());

// Short timeouts: a killed BMC is noticed within keepaliveMs + 4 × timeoutMs.
const params = (extra: Record<string, unknown> = {}) => ({ host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 200, keepaliveMs: 300, ...extra });

driverContract('ipmi-sol', () => ({
  driver: ipmiSolDriver,
  params: async () => params(),
  async dropPeer() {
    await bmc.crash();
  },
  async restorePeer() {
    await bmc.restart();
  },
  badParams: async () => params({ password: 'not-the-password' }),
  badReason: /^127\.0\.0\.1:\d+: authentication failed: wrong password for user 'admin'$/,
}));

const noHostKeys = { get: async () => undefined, remember: async (_e: string, f: string) => f, forget: async () => false };
const ctx = (): DriverContext => ({ node: 'sol-unit', cols: 80, rows: 24, logger: pino({ level: 'silent' }), hostKeys: noHostKeys });
const create = (extra: Record<string, unknown> = {}) => ipmiSolDriver.create(params(extra) as never, ctx()) as IpmiSolConsole;

describe('ipmi-sol driver', () => {
  test('a client killed with -9 leaves SOL busy: a clear error, and takeOver gets the console', async () => {
    const ipm = new IpmitoolSol(bmc);
    await ipm.operational();
    process.kill(ipm.proc.pid!, 'SIGKILL');
    await exited(ipm.proc);

    await assert.rejects(create().open(), (err: Error) => {
      assert.match(err.message, /^127\.0\.0\.1:\d+: SOL instance 1 is already active on another session .*takeOver: true to take it over$/);
      return true;
    });

    const c = create({ takeOver: true });
    await c.open();
    const out = driverOutput(c);
    assert.deepEqual(Object.keys(c.info()), ['bmc', 'bmcSessionId', 'instance', 'cipherSuite']);
    c.write(Buffer.from('echo took-$((40+2))\r'));
    await out.waitFor('took-42');
    const closed = once(c, 'close');
    await c.close();
    assert.deepEqual(await closed, ['closed']);
  });

  test('sendBreak reaches the serial line as a BREAK', async () => {
    const c = create();
    await c.open();
    const out = driverOutput(c);
    const breaks = bmc.serial!.breaks;
    await c.sendBreak();
    // ipmi_sim queues the BREAK and writes it out with the next characters typed.
    c.write(Buffer.from('echo after-$((1+1))-break\r'));
    await out.waitFor('after-2-break');
    assert.equal(bmc.serial!.breaks, breaks + 1);
    await c.close();
  });

  test('no BMC on the port: open() fails within the timeout, never hangs', async () => {
    const c = ipmiSolDriver.create({ host: '127.0.0.1', port: 9, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 100 } as never, ctx());
    const started = Date.now();
    await assert.rejects(c.open(), { code: 'IPMI_TIMEOUT', message: '127.0.0.1:9: no answer to Get Channel Authentication Capabilities after 4 tries (400 ms)' });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  test('params: checked before anything connects (strings from the CLI converted); the password is secret', () => {
    const registry = builtinDrivers();
    const { params: p } = registry.validate('n1', 'ipmi-sol', { host: 'bmc1', port: '6230', user: 'admin', password: 'pw', takeOver: 'true', keepaliveMs: '500' });
    assert.deepEqual(p, { host: 'bmc1', port: 6230, user: 'admin', password: 'pw', takeOver: true, keepaliveMs: 500 });
    assert.throws(() => registry.validate('n1', 'ipmi-sol', { host: 'bmc1', user: 'a', password: 'p', cipherSuite: 5 }), /params\.cipherSuite/);
    assert.equal(registry.validate('n1', 'ipmi-sol', { host: 'bmc1', user: 'a', password: 'p', cipherSuite: '17' }).params.cipherSuite, 17);
    assert.throws(() => registry.validate('n1', 'ipmi-sol', { host: 'bmc1', user: 'a', password: 'p', instance: 2 }), /params\.instance: Unexpected property/);
    assert.throws(() => registry.validate('n1', 'ipmi-sol', { host: 'bmc1', user: 'a', password: 'x'.repeat(21) }), /params\.password/);
    assert.deepEqual(registry.mask('ipmi-sol', { host: 'bmc1', password: 'pw' }), { host: 'bmc1', password: '***' });
  });
});
