// SOL without a BMC: byte vectors for the payload commands and SOL packets, the session replay
// window, and SolConsole's protocol (acks, duplicates, partial accept, retransmit, takeover)
// against a scripted session.
//
// Where the vectors come from: "captured" = field values printed by
// `ipmitool -I lanplus -C 3 -vvvv sol activate` (ipmitool 1.8.19) against ipmi_sim (OpenIPMI
// 2.0.33), laid out per table 15-2 (the SOL packets themselves travel encrypted, so -vvvv shows
// fields, not bytes); "raw" = bytes printed by `ipmitool ... raw 0x06 0x4a|0x4b ...` against the
// same simulator; "lanserv" = what lanserv/sol.c (ipmi_sol_activate) writes, confirmed by our own
// activation against ipmi_sim (test/ipmi/sol.test.ts).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { CMD, PAYLOAD } from '../../src/ipmi/constants.js';
import { IpmiError } from '../../src/ipmi/errors.js';
import type { IpmiResponse } from '../../src/ipmi/packets.js';
import { ReplayWindow } from '../../src/ipmi/replay-window.js';
import {
  buildActivatePayload,
  buildDeactivatePayload,
  buildSolPacket,
  parseActivatePayloadResponse,
  parsePayloadActivationStatus,
  parsePayloadInstanceInfo,
  parseSolPacket,
  SolConsole,
  type PayloadCarrier,
  type SolPacket,
} from '../../src/ipmi/sol.js';
import { waitUntil } from '../support/wait.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('SOL byte vectors', () => {
  test('Activate Payload request: ipmitool\'s (captured: data 01 01 c6 00 00 00) and ours (table 24-2)', () => {
    assert.deepEqual(buildActivatePayload(1, 0xc6), hex('01 01 c6 00 00 00'));
    // Ours leaves out bit 1 (CTS/DCD/DSR deasserted until asked for): encryption, authentication, alerts deferred.
    assert.deepEqual(buildActivatePayload(1), hex('01 01 c4 00 00 00'));
    assert.deepEqual(buildActivatePayload(2), hex('01 02 c4 00 00 00'));
    assert.throws(() => buildActivatePayload(0), /instance must be 1\.\.15/);
  });

  test('Deactivate Payload request (captured: data 01 01 00 00 00 00, table 24-3)', () => {
    assert.deepEqual(buildDeactivatePayload(1), hex('01 01 00 00 00 00'));
  });

  test('Activate Payload response as ipmi_sim sends it (lanserv): sizes 32 / 16384, the session port, no VLAN', () => {
    // aux 00000000, inbound 0x0020, outbound 0x4000, port 0x026f = 623, VLAN 0xffff; LS byte first.
    assert.deepEqual(parseActivatePayloadResponse(hex('00000000 2000 0040 6f02 ffff')), {
      aux: 0,
      inboundPayloadSize: 32,
      outboundPayloadSize: 16384,
      port: 623,
      vlan: 0xffff,
    });
    assert.throws(() => parseActivatePayloadResponse(hex('00000000 2000')), /malformed Activate Payload response/);
  });

  test('Get Payload Activation Status and Instance Info responses (raw, tables 24-4 and 24-5)', () => {
    // `raw 0x06 0x4a 0x01` while ipmitool held SOL: one instance supported, instance 1 active.
    assert.deepEqual(parsePayloadActivationStatus(hex('01 01 00')), { capacity: 1, active: [1] });
    assert.deepEqual(parsePayloadActivationStatus(hex('02 00 80')), { capacity: 2, active: [16] });
    // `raw 0x06 0x4b 0x01 0x01`: held by BMC session 0x82, SOL port 1.
    assert.deepEqual(parsePayloadInstanceInfo(hex('82000000 01 00000000000000')), { sessionId: 0x82, portNumber: 1 });
  });

  test('SOL packets from the remote console (captured, table 15-2)', () => {
    // ipmitool acking the BMC's packet 1 of 19 characters ("hello-from-serial\r\n").
    assert.deepEqual(buildSolPacket({ ackSequence: 1, acceptedCount: 0x13 }), hex('00 01 13 00'));
    // ipmitool's keystrokes "typed\r" in packet 1.
    assert.deepEqual(buildSolPacket({ sequence: 1, data: Buffer.from('typed\r') }), hex('01 00 00 00 747970656 40d'));
    // ipmitool's ~B: packet 2, no characters, "generate BREAK" (operation bit 4).
    assert.deepEqual(buildSolPacket({ sequence: 2, flags: 0x10 }), hex('02 00 00 10'));
    assert.throws(() => buildSolPacket({ sequence: 16 }), /0\.\.15/);
    assert.throws(() => buildSolPacket({ ackSequence: 1, acceptedCount: 256 }), /0\.\.255/);
  });

  test('SOL packets from the BMC (captured, table 15-2)', () => {
    assert.deepEqual(parseSolPacket(hex('01 00 00 00 68656c6c6f0d0a')), { sequence: 1, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.from('hello\r\n') });
    // The BMC's ack of ipmitool's packet 1, all 6 characters taken.
    assert.deepEqual(parseSolPacket(hex('00 01 06 00')), { sequence: 0, ackSequence: 1, acceptedCount: 6, flags: 0, data: Buffer.alloc(0) });
    // Status bits: NACK (6) and SOL deactivating (4); the upper nibble of the sequence bytes is reserved.
    const s = parseSolPacket(hex('f3 f2 00 50'));
    assert.deepEqual([s.sequence, s.ackSequence, s.flags & 0x40, s.flags & 0x10], [3, 2, 0x40, 0x10]);
    assert.throws(() => parseSolPacket(hex('01 00 00')), /malformed SOL packet/);
  });
});

describe('replay window (inbound session sequence numbers)', () => {
  test('takes new numbers, refuses repeats and anything 32 or more behind the newest', () => {
    const w = new ReplayWindow();
    assert.equal(w.accept(10), true);
    assert.equal(w.accept(10), false, 'a repeat');
    assert.equal(w.accept(12), true);
    assert.equal(w.accept(11), true, 'late but unseen, within the window');
    assert.equal(w.accept(11), false);
    assert.equal(w.accept(50), true);
    assert.equal(w.accept(19), true, '31 behind: still in the window');
    assert.equal(w.accept(18), false, '32 behind: too old');
    assert.equal(w.accept(12), false);
  });

  test('wraps around 2^32', () => {
    const w = new ReplayWindow();
    assert.equal(w.accept(0xffff_fffe), true);
    assert.equal(w.accept(1), true);
    assert.equal(w.accept(0xffff_ffff), true);
    assert.equal(w.accept(0xffff_fffe), false);
  });
});

/** A session that answers the payload commands as scripted and records every SOL packet sent. */
class ScriptedSession extends EventEmitter implements PayloadCarrier {
  readonly bmc = 'bmc.test:623';
  readonly port = 623;
  constructor(readonly bmcSessionId = 0x42) {
    super();
  }

  activateCodes: number[] = [0];
  commands: number[] = [];
  sent: SolPacket[] = [];
  /** Answer each SOL packet sent (return undefined to drop it). */
  answer: (p: SolPacket) => Partial<SolPacket> | undefined = (p) => (p.sequence ? { ackSequence: p.sequence, acceptedCount: p.data.length } : undefined);
  private handler?: (payload: Buffer) => void;

  async requestRaw(netFn: number, cmd: number): Promise<IpmiResponse> {
    this.commands.push(cmd);
    if (cmd === CMD.ACTIVATE_PAYLOAD) {
      const cc = this.activateCodes.shift() ?? 0;
      return response(netFn, cmd, cc, cc ? '' : '00000000 2000 0040 6f02 ffff');
    }
    if (cmd === CMD.GET_PAYLOAD_INSTANCE_INFO) return response(netFn, cmd, 0, '42000000 01 00000000000000');
    return response(netFn, cmd, 0, '');
  }

  async sendPayload(type: number, data: Buffer): Promise<void> {
    assert.equal(type, PAYLOAD.SOL);
    const p = parseSolPacket(data);
    this.sent.push(p);
    this.emit('sent');
    const reply = this.answer(p);
    if (reply) setImmediate(() => this.inject(reply));
  }

  onPayload(_type: number, handler: (payload: Buffer) => void): () => void {
    this.handler = handler;
    return () => (this.handler = undefined);
  }

  inject(p: Partial<SolPacket>): void {
    this.handler?.(buildSolPacket(p));
  }

  /** Characters of data packets sent, in order (retransmissions included). */
  dataPackets(): SolPacket[] {
    return this.sent.filter((p) => p.sequence !== 0 && p.data.length > 0);
  }
}

function response(netFn: number, cmd: number, completionCode: number, data: string): IpmiResponse {
  return { netFn: netFn | 1, cmd, rqSeq: 1, completionCode, data: hex(data) };
}

function nextEvent<T>(emitter: EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Resolves once `check` holds, re-checked whenever the console sends or (when given) receives a packet. */
function settle(s: ScriptedSession, check: () => boolean, sol?: SolConsole): Promise<boolean> {
  return waitUntil(check, {
    what: 'the scripted exchange to settle',
    timeoutMs: 2000,
    subscribe: (wake) => {
      s.on('sent', wake);
      sol?.on('packet', wake);
      return () => {
        s.off('sent', wake);
        sol?.off('packet', wake);
      };
    },
    describe: () => JSON.stringify(s.sent.map((p) => [p.sequence, p.ackSequence, p.acceptedCount, p.data.toString()])),
  });
}

describe('SolConsole protocol against a scripted session', () => {
  test('the first packet is empty (moves ipmi_sim\'s duplicate check on); input then goes out in order, 28 characters at most', async () => {
    const s = new ScriptedSession();
    s.answer = (p) => (p.sequence ? { ackSequence: p.sequence, acceptedCount: p.data.length } : undefined);
    const sol = await SolConsole.activate(s, { retransmitMs: 50 });
    assert.equal(sol.maxChars, 28);
    const text = 'x'.repeat(30) + 'y'.repeat(30);
    sol.write(Buffer.from(text));
    await settle(s, () => s.dataPackets().map((p) => p.data.toString()).join('') === text);
    assert.deepEqual(s.sent[0], { sequence: 1, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.alloc(0) });
    assert.deepEqual(s.dataPackets().map((p) => [p.sequence, p.data.length]), [[2, 28], [3, 28], [4, 4]]);
    await sol.deactivate();
    assert.deepEqual(s.commands, [CMD.ACTIVATE_PAYLOAD, CMD.DEACTIVATE_PAYLOAD]);
  });

  test('partial accept: the rest is sent again in a new packet, nothing lost or doubled', async () => {
    const s = new ScriptedSession();
    s.answer = (p) => (p.sequence ? { ackSequence: p.sequence, acceptedCount: Math.min(p.data.length, 10) } : undefined);
    const sol = await SolConsole.activate(s, { retransmitMs: 50 });
    const text = 'abcdefghijklmnopqrstuvwxyz0123456789';
    sol.write(Buffer.from(text));
    await settle(s, () => s.dataPackets().map((p) => p.data.subarray(0, 10).toString()).join('') === text);
    const seqs = s.dataPackets().map((p) => p.sequence);
    assert.deepEqual(seqs, [2, 3, 4, 5], 'each resend is a new packet');
    assert.deepEqual(s.dataPackets().map((p) => p.data.toString()), [text.slice(0, 28), text.slice(10), text.slice(20), text.slice(30)]);
    await sol.deactivate();
  });

  test('NACK with nothing taken: wait, and go on when the BMC says it has room', async () => {
    const s = new ScriptedSession();
    let full = true;
    s.answer = (p) => (!p.sequence ? undefined : full && p.data.length ? { ackSequence: p.sequence, acceptedCount: 0, flags: 0x40 } : { ackSequence: p.sequence, acceptedCount: p.data.length });
    const sol = await SolConsole.activate(s, { retransmitMs: 60_000 });
    sol.write(Buffer.from('held back'));
    await settle(s, () => sol.stats.packetsIn === 2, sol); // the empty packet's ack, then the NACK
    full = false;
    s.inject({ ackSequence: 2, acceptedCount: 0 }); // ipmi_sim repeats its last ack once its buffer drains
    await settle(s, () => s.dataPackets().length === 2);
    assert.deepEqual(s.dataPackets().map((p) => [p.sequence, p.data.toString()]), [[2, 'held back'], [3, 'held back']]);
    await sol.deactivate();
  });

  test('no ack: retransmitted with the same sequence number, then the console is declared dead', async () => {
    const s = new ScriptedSession();
    const sol = await SolConsole.activate(s, { retransmitMs: 20, retries: 2 });
    s.answer = () => undefined;
    const closed = nextEvent<IpmiError>(sol, 'close');
    sol.write(Buffer.from('lost'));
    const err = await closed;
    assert.equal(err.code, 'IPMI_SOL_TIMEOUT');
    assert.match(err.message, /bmc\.test:623: SOL: console input not acknowledged after 3 tries \(60 ms\); the console is dead/);
    assert.deepEqual(s.dataPackets().map((p) => p.sequence), [2, 2, 2]);
    assert.equal(sol.stats.retransmits, 2);
    assert.equal(sol.active, false);
  });

  test('inbound: each packet acked, a retransmission shown once (only characters it adds are new)', async () => {
    const s = new ScriptedSession();
    const sol = await SolConsole.activate(s);
    let out = '';
    sol.on('data', (d: Buffer) => (out += d.toString()));
    s.inject({ sequence: 5, data: Buffer.from('abc') });
    s.inject({ sequence: 5, data: Buffer.from('abc') });
    s.inject({ sequence: 5, data: Buffer.from('abcde') });
    s.inject({ sequence: 6, data: Buffer.from('f') });
    assert.equal(out, 'abcdef');
    assert.equal(sol.stats.duplicatesIn, 2);
    const acks = s.sent.filter((p) => p.sequence === 0).map((p) => [p.ackSequence, p.acceptedCount]);
    assert.deepEqual(acks, [[5, 3], [5, 3], [5, 5], [6, 1]]);
    await sol.deactivate();
  });

  test('pause holds the ack (the BMC keeps the characters); resume shows them once and acks', async () => {
    const s = new ScriptedSession();
    const sol = await SolConsole.activate(s);
    let out = '';
    sol.on('data', (d: Buffer) => (out += d.toString()));
    sol.pause();
    s.inject({ sequence: 1, data: Buffer.from('later') });
    s.inject({ sequence: 1, data: Buffer.from('later') });
    assert.equal(out, '');
    assert.equal(s.sent.filter((p) => p.sequence === 0).length, 0, 'no ack while paused');
    sol.resume();
    assert.equal(out, 'later');
    assert.deepEqual(s.sent.filter((p) => p.sequence === 0).map((p) => [p.ackSequence, p.acceptedCount]), [[1, 5]]);
    await sol.deactivate();
  });

  test('BREAK: its own packet with operation bit 4; sendBreak resolves on the ack', async () => {
    const s = new ScriptedSession();
    const sol = await SolConsole.activate(s);
    await sol.sendBreak();
    const brk = s.sent.find((p) => p.flags === 0x10)!;
    assert.deepEqual([brk.sequence, brk.data.length], [2, 0]);
    await sol.deactivate();
    await assert.rejects(sol.sendBreak(), { code: 'IPMI_SOL_DEACTIVATED' });
  });

  test('already active: IPMI_SOL_BUSY naming takeOver; with takeOver, Deactivate Payload first', async () => {
    const busy = new ScriptedSession();
    busy.activateCodes = [0x80];
    await assert.rejects(SolConsole.activate(busy), (err: IpmiError) => {
      assert.equal(err.code, 'IPMI_SOL_BUSY');
      assert.match(err.message, /^bmc\.test:623: SOL instance 1 is already active on another session .*takeOver: true/);
      return true;
    });
    const take = new ScriptedSession();
    take.activateCodes = [0x80, 0];
    const sol = await SolConsole.activate(take, { takeOver: true });
    assert.deepEqual(take.commands, [CMD.ACTIVATE_PAYLOAD, CMD.DEACTIVATE_PAYLOAD, CMD.ACTIVATE_PAYLOAD]);
    await sol.deactivate();
    const disabled = new ScriptedSession();
    disabled.activateCodes = [0x81];
    await assert.rejects(SolConsole.activate(disabled), { code: 'IPMI_SOL_REFUSED', message: 'bmc.test:623: Activate Payload (SOL) refused: the SOL payload is disabled on this BMC (0x81)' });
  });

  test('the BMC ending SOL, and the watch finding the payload held by another session, close the console', async () => {
    const s = new ScriptedSession();
    const sol = await SolConsole.activate(s);
    const closed = nextEvent<IpmiError>(sol, 'close');
    s.inject({ sequence: 0, flags: 0x10 });
    assert.equal((await closed).code, 'IPMI_SOL_DEACTIVATED');

    const watched = new ScriptedSession(0x43); // the instance info names session 0x42
    const sol2 = await SolConsole.activate(watched, { watchMs: 10 });
    const guard = setTimeout(() => assert.fail('the watch did not notice'), 2000); // the watch timer is unref'd
    const err = await nextEvent<IpmiError>(sol2, 'close');
    clearTimeout(guard);
    assert.equal(err.message, 'bmc.test:623: SOL deactivated: taken over by another session');
  });
});
