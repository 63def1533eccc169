// The ipmitool-sol fallback driver: the contract suite against ipmi_sim with a shell behind its
// serial line, then a payload held by another client, BREAK, and ipmitool's escape character.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { builtinDrivers } from '../../src/drivers/index.js';
import { EscapeGuard, ipmitoolSolDriver } from '../../src/drivers/ipmitool-sol.js';
import type { ConsoleSession } from '../../src/console/session.js';
import { driverOutput } from '../support/console-clients.js';
import { BMC_PASSWORD, BMC_RO_USER, BMC_USER, IpmitoolSol, startBmcSim, type BmcSim } from '../support/bmc-sim.js';
import { exited } from '../support/processes.js';
import { driverContract } from './contract.js';

let bmc: BmcSim;
before(async () => {
  bmc = await startBmcSim({ serial: 'shell' });
});
after(() => bmc?.stop());

const params = (extra: Record<string, unknown> = {}) => ({ host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, takeOver: true, ...extra });

driverContract('ipmitool-sol', () => ({
  driver: ipmitoolSolDriver,
  params: async () => params(),
  // ipmitool and the BMC both go (see freshBmc for why not ipmitool alone).
  async dropPeer(session: ConsoleSession) {
    process.kill(session.status().info.pid as number, 'SIGKILL');
    await bmc.crash();
  },
  async restorePeer() {
    await bmc.restart();
  },
  // The viewer user: ipmitool leaves a failed login's session open on the BMC, which allows 10 per user.
  badParams: async () => params({ user: BMC_RO_USER, password: 'not-the-password' }),
  badReason: /ipmitool could not log in to the BMC \(wrong user or password, or the BMC is unreachable\)/,
}));

const create = (extra: Record<string, unknown> = {}) =>
  ipmitoolSolDriver.create(params(extra) as never, { node: 'n', cols: 80, rows: 24, logger: pino({ level: 'silent' }), hostKeys: undefined as never });

/**
 * ipmi_sim keeps a payload's last SOL sequence number across sessions, so a new session's first
 * packet is dropped as a repeat when its number matches: tests that need it start on a fresh BMC.
 */
async function freshBmc(): Promise<void> {
  await bmc.crash();
  await bmc.restart();
}

describe('ipmitool-sol driver', () => {
  test('without takeOver, a payload held by another client is a clear reason, not a silent exit', async () => {
    const holder = new IpmitoolSol(bmc);
    await holder.operational();
    const c = create({ takeOver: false });
    await assert.rejects(c.open(), { message: 'SOL payload already active on another session (set param takeOver=true to deactivate it first); process exited with code 1' });
    holder.type('\r~.');
    await exited(holder.proc);
  });

  test('takeOver: a payload left busy by a client killed with -9 is deactivated first', async () => {
    await freshBmc();
    const holder = new IpmitoolSol(bmc);
    await holder.operational();
    process.kill(holder.proc.pid!, 'SIGKILL');
    await exited(holder.proc);
    const c = create();
    const out = driverOutput(c);
    await c.open();
    try {
      c.write(Buffer.from('echo took-$((40+2))\r'));
      await out.waitFor('took-42');
    } finally {
      await c.close();
    }
  });

  test('the password goes to ipmitool through its environment, never its command line', async () => {
    const c = create();
    await c.open();
    try {
      const pid = c.info!().pid as number;
      const { readFile } = await import('node:fs/promises');
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'latin1')).split('\0');
      assert.ok(argv.includes('-E') && !argv.includes(BMC_PASSWORD), argv.join(' '));
      const env = (await readFile(`/proc/${pid}/environ`, 'latin1')).split('\0');
      assert.ok(env.includes(`IPMI_PASSWORD=${BMC_PASSWORD}`));
    } finally {
      await c.close();
    }
  });

  test('sendBreak reaches the serial line as a BREAK; typed ~. does not end the session', async () => {
    await freshBmc();
    const c = create();
    const out = driverOutput(c);
    await c.open();
    try {
      const breaks = bmc.serial!.breaks;
      await out.waitFor('SOL Session operational');
      await c.sendBreak!();
      c.write(Buffer.from('\r~.\recho still-$((3*3))\r'));
      await bmc.serial!.waitReceived(/\r~\.\recho still-\$\(\(3\*3\)\)\r/);
      await bmc.serial!.waitFor(`a BREAK (console said: ${JSON.stringify(out.text().slice(-200))})`, () => bmc.serial!.breaks > breaks);
      await out.waitFor('still-9');
    } finally {
      await c.close();
    }
  });

  test('escape guard: ~ after a CR is doubled, elsewhere left alone; a break needs a CR first', () => {
    const g = new EscapeGuard();
    assert.equal(g.encode(Buffer.from('~.')).toString(), '~~.');
    assert.equal(g.encode(Buffer.from('a~b\r')).toString(), 'a~b\r');
    assert.equal(g.encode(Buffer.from('~')).toString(), '~~');
    assert.equal(g.breakSequence().toString(), '\r~B');
    g.encode(Buffer.from('x\r'));
    assert.equal(g.breakSequence().toString(), '~B');
  });

  test('params: the BMC params, checked; the password is secret', () => {
    const registry = builtinDrivers();
    assert.deepEqual(registry.validate('n1', 'ipmitool-sol', { host: 'bmc1', user: 'a', password: 'p', port: '6230', takeOver: 'true' }).params,
      { host: 'bmc1', user: 'a', password: 'p', port: 6230, takeOver: true });
    assert.throws(() => registry.validate('n1', 'ipmitool-sol', { host: 'bmc1', user: 'a', password: 'p', keepaliveMs: 5 }), /params\.keepaliveMs: Unexpected property/);
    assert.deepEqual(registry.mask('ipmitool-sol', { host: 'bmc1', password: 'pw' }), { host: 'bmc1', password: '***' });
  });
});
