// Serial over LAN against a real BMC: OpenIPMI ipmi_sim with its SOL serial line on a TCP port
// this test holds (test/support/bmc-sim.ts), cross-checked with `ipmitool -I lanplus -C 3 sol`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CMD, NETFN, PAYLOAD } from '../../src/ipmi/constants.js';
import { getSolActivationStatus, IpmiSession, SolConsole, type IpmiError, type SolConsoleOptions } from '../../src/ipmi/index.js';
import { parsePayloadInstanceInfo } from '../../src/ipmi/sol.js';
import { BMC_PASSWORD, BMC_USER, ipmitoolArgs, IpmitoolSol, startBmcSim, type BmcSim } from '../support/bmc-sim.js';
import { exited } from '../support/processes.js';
import { onEvents, waitUntil } from '../support/wait.js';

const run = promisify(execFile);
let bmc: BmcSim;
let session: IpmiSession;

before(async () => {
  bmc = await startBmcSim({ serial: true });
  session = await IpmiSession.open({ host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 300, retries: 2 });
});
after(async () => {
  await session?.close();
  await bmc?.stop();
});


/** A console with its output kept, so a test can wait for text in it. */
class Console extends EventEmitter {
  output = '';
  closeReason?: IpmiError | string;

  constructor(readonly sol: SolConsole) {
    super();
    sol.on('data', (d: Buffer) => {
      this.output += d.toString('latin1');
      this.emit('change');
    });
    sol.on('packet', () => this.emit('change'));
    sol.on('close', (reason: IpmiError | string) => {
      this.closeReason = reason;
      this.emit('change');
    });
  }

  waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    return waitUntil(check, {
      what,
      timeoutMs,
      subscribe: onEvents(this, 'change'),
      describe: () => JSON.stringify({ output: this.output.slice(-300), stats: this.sol.stats, closed: String(this.closeReason ?? '') }),
    });
  }

  waitOutput(text: string): Promise<boolean> {
    return this.waitFor(`console output ${JSON.stringify(text)}`, () => this.output.includes(text));
  }
}

async function activate(opts: SolConsoleOptions = {}): Promise<Console> {
  return new Console(await SolConsole.activate(session, { retransmitMs: 300, retries: 3, ...opts }));
}

test('activation: what ipmi_sim answers (sizes, the session\'s own UDP port), and the instance held by our session', async () => {
  const c = await activate();
  assert.deepEqual(c.sol.activation, { aux: 0, inboundPayloadSize: 32, outboundPayloadSize: 16384, port: bmc.port, vlan: 0xffff });
  assert.equal(c.sol.maxChars, 28);
  assert.deepEqual((await getSolActivationStatus(session)).active, [1]);
  const info = await session.request(NETFN.APP, CMD.GET_PAYLOAD_INSTANCE_INFO, Buffer.from([PAYLOAD.SOL, 1]));
  assert.equal(parsePayloadInstanceInfo(info).sessionId, session.bmcSessionId);
  await c.sol.deactivate();
  assert.equal(c.closeReason, 'deactivated');
  assert.deepEqual((await getSolActivationStatus(session)).active, []);
});

test('console output arrives as data; keystrokes reach the serial line (Enter as CR), long input whole and in order', async () => {
  const c = await activate();
  const serial = bmc.serial!;
  serial.write('boot: hello from the host\r\n');
  await c.waitOutput('boot: hello from the host\r\n');

  c.sol.write(Buffer.from('typed-keys\r'));
  await serial.waitReceived('typed-keys\r');
  const long = Array.from({ length: 20 }, (_, i) => `line-${String(i).padStart(2, '0')}|`).join('');
  for (const ch of long) c.sol.write(Buffer.from(ch)); // 180 one-character writes: packed into 28-character packets
  await serial.waitReceived(long);
  assert.ok(c.sol.stats.packetsOut < 40, `packets sent: ${c.sol.stats.packetsOut}`);
  await c.sol.deactivate();
});

test('a packet the BMC sends again (its ack held back by pause) is shown once', async () => {
  const c = await activate();
  c.sol.pause();
  bmc.serial!.write('shown-once\r\n');
  // ipmi_sim resends an unacknowledged packet every second.
  await c.waitFor('ipmi_sim to retransmit', () => c.sol.stats.duplicatesIn >= 1);
  assert.equal(c.output, '', 'nothing shown while paused');
  c.sol.resume();
  await c.waitOutput('shown-once');
  bmc.serial!.write('after-resume\r\n');
  await c.waitOutput('after-resume');
  assert.equal(c.output, 'shown-once\r\nafter-resume\r\n');
  await c.sol.deactivate();
});

// ipmi_sim writes a BREAK to a tcp: line as telnet IAC BREAK, and only along with the next
// characters typed (sol_tcp_send_break queues it without asking for a write).
test('BREAK reaches the serial line, in line with the keys typed around it', async () => {
  const c = await activate();
  const serial = bmc.serial!;
  const breaks = serial.breaks;
  c.sol.write(Buffer.from('before-break'));
  await c.sol.sendBreak();
  c.sol.write(Buffer.from('after-break\r'));
  await serial.waitFor('a BREAK and the keys after it', () => serial.breaks === breaks + 1 && serial.received.includes('before-breakafter-break\r'));
  await c.sol.deactivate();
});

test('deactivate, then a fresh activation on the same session works both ways', async () => {
  const first = await activate();
  first.sol.write(Buffer.from('k'));
  await bmc.serial!.waitReceived('k');
  await first.sol.deactivate();

  const second = await activate();
  // Without the empty first packet, ipmi_sim would take this one (sequence 1 again) for a repeat and drop it.
  second.sol.write(Buffer.from('second-keys\r'));
  await bmc.serial!.waitReceived('second-keys\r');
  bmc.serial!.write('second-output\r\n');
  await second.waitOutput('second-output');
  await second.sol.deactivate();
});

test('another session deactivating our payload (ipmitool sol deactivate): the watch closes the console with the reason', async () => {
  const c = await activate({ watchMs: 100 });
  await run('ipmitool', [...ipmitoolArgs(bmc), 'sol', 'deactivate']);
  const reason = await c.waitFor('the console to close', () => c.closeReason);
  assert.equal((reason as IpmiError).code, 'IPMI_SOL_DEACTIVATED');
  assert.equal((reason as IpmiError).message, `${bmc.host}:${bmc.port}: SOL deactivated: no session holds the payload any more`);
  assert.equal(c.sol.active, false);
});

test('ipmitool holding SOL: IPMI_SOL_BUSY; with takeOver we get the console and ipmitool is cut off', async () => {
  const ipm = new IpmitoolSol(bmc);
  await ipm.operational();
  bmc.serial!.write('to-ipmitool\r\n');
  await ipm.waitFor('to-ipmitool');

  await assert.rejects(activate(), (err: IpmiError) => {
    assert.equal(err.code, 'IPMI_SOL_BUSY');
    assert.equal(err.detail.completionCode, 0x80);
    assert.match(err.message, /SOL instance 1 is already active on another session .*takeOver: true/);
    return true;
  });

  const c = await activate({ takeOver: true });
  bmc.serial!.write('to-us\r\n');
  await c.waitOutput('to-us');
  // ipmitool's session lives on, but its SOL is gone: its keystrokes get no ack and it gives up.
  ipm.type('from-ipmitool\r');
  const status = await exited(ipm.proc);
  assert.equal(status.code, 1);
  assert.match(ipm.output, /Error sending SOL data: FAIL\nSOL session closed by BMC/);
  assert.doesNotMatch(ipm.output, /to-us/);
  assert.doesNotMatch(bmc.serial!.received, /from-ipmitool/);
  c.sol.write(Buffer.from('still-ours\r'));
  await bmc.serial!.waitReceived('still-ours\r');
  await c.sol.deactivate();
});

test('cross-check: after we close, ipmitool sol activate gets the console both ways', async () => {
  const c = await activate();
  c.sol.write(Buffer.from('ours\r'));
  await bmc.serial!.waitReceived('ours\r');
  await c.sol.deactivate();

  const ipm = new IpmitoolSol(bmc);
  await ipm.operational();
  bmc.serial!.write('host-to-ipmitool\r\n');
  await ipm.waitFor('host-to-ipmitool');
  ipm.type('ipmitool-to-host\r');
  await bmc.serial!.waitReceived('ipmitool-to-host\r');
  ipm.type('~.'); // ipmitool's escape after a CR: deactivate and quit
  assert.equal((await exited(ipm.proc)).code, 0);
  assert.deepEqual((await getSolActivationStatus(session)).active, []);
});
