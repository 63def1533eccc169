// Byte vectors for packet build/parse. Expected bytes were written out by hand from the IPMI v2.0
// spec tables named in each test, and checked with python3 at authoring time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CMD, NETFN, PAYLOAD } from '../../src/ipmi/constants.js';
import {
  buildIpmiRequest,
  buildV15Packet,
  buildV2Authenticated,
  buildV2Plain,
  checksum,
  integrityPad,
  parseIpmiResponse,
  parsePacket,
} from '../../src/ipmi/packets.js';
import { consoleSessionIdOf } from '../../src/ipmi/transport.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('checksum: two\'s complement, bytes plus checksum sum to zero (section 13.8)', () => {
  assert.equal(checksum(hex('2018')), 0xc8);
  assert.equal(checksum(hex('810401')), 0x7a);
  assert.equal(checksum(Buffer.alloc(0)), 0);
});

test('IPMI request: Get Device ID, rqSeq 1 (section 13.8)', () => {
  assert.deepEqual(buildIpmiRequest({ netFn: NETFN.APP, cmd: CMD.GET_DEVICE_ID, rqSeq: 1 }), hex('20 18 c8 81 04 01 7a'));
});

test('IPMI 1.5 wrapper: Get Channel Authentication Capabilities before a session (sections 13.6, 22.13)', () => {
  const msg = buildIpmiRequest({ netFn: NETFN.APP, cmd: CMD.GET_CHANNEL_AUTH_CAPABILITIES, rqSeq: 1, data: hex('8e04') });
  assert.deepEqual(buildV15Packet(msg), hex('0600ff07 00 00000000 00000000 09 2018c8 8104388e04 b1'));
});

test('IPMI response: parse, and reject bad checksums', () => {
  // Get Chassis Status response, power on: rqSA 81, netFn 01 (0x00|1)<<2, rqSeq 5, cmd 01, cc 00, data 01 00 40
  const body = hex('20 14 01 00 01 00 40');
  const head = hex('81 04');
  const msg = Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
  const r = parseIpmiResponse(msg);
  assert.deepEqual({ netFn: r.netFn, rqSeq: r.rqSeq, cmd: r.cmd, cc: r.completionCode, data: r.data.toString('hex') }, { netFn: 1, rqSeq: 5, cmd: 1, cc: 0, data: '010040' });
  const broken = Buffer.from(msg);
  broken[broken.length - 1]! ^= 1;
  assert.throws(() => parseIpmiResponse(broken), /data checksum/);
});

test('IPMI 2.0 plain packet: Open Session request framing (table 13-8)', () => {
  const pkt = buildV2Plain(PAYLOAD.OPEN_SESSION_REQUEST, hex('aabb'));
  assert.deepEqual(pkt, hex('0600ff07 06 10 00000000 00000000 0200 aabb'));
  const parsed = parsePacket(pkt);
  assert.equal(parsed.format, 'v2.0');
  if (parsed.format === 'v2.0') assert.deepEqual([parsed.payloadType, parsed.payload.toString('hex'), parsed.authenticated], [0x10, 'aabb', false]);
});

test('integrity pad makes Auth Type .. Next Header a multiple of 4 (section 13.28.4)', () => {
  for (let n = 12; n < 40; n++) assert.equal((n + integrityPad(n).length + 2) % 4, 0);
  assert.deepEqual(integrityPad(44), hex('ffff'));
  assert.deepEqual(integrityPad(46), Buffer.alloc(0));
});

test('IPMI 2.0 authenticated packet: header, pad, pad length, next header; parse splits AuthCode', () => {
  const payload = Buffer.alloc(32, 0x33);
  const signed = buildV2Authenticated({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 0x55667788, sequence: 1 }, payload);
  assert.deepEqual(signed.subarray(0, 12), hex('06 c0 88776655 01000000 2000'));
  assert.deepEqual(signed.subarray(44), hex('ffff 02 07'));
  const code = Buffer.alloc(12, 0xee);
  const parsed = parsePacket(Buffer.concat([hex('0600ff07'), signed, code]), 12);
  assert.equal(parsed.format, 'v2.0');
  if (parsed.format === 'v2.0') {
    assert.deepEqual(parsed.signed, signed);
    assert.deepEqual(parsed.authCode, code);
    assert.equal(parsed.sessionId, 0x55667788);
    assert.equal(parsed.sequence, 1);
    assert.ok(parsed.encrypted && parsed.authenticated);
  }
});

test('transport routing: session ID from the header, or from a setup reply\'s payload', () => {
  assert.equal(consoleSessionIdOf(hex('0600ff07 06 c0 44332211 01000000 0000')), 0x11223344);
  // RAKP 2 arrives with session ID 0; our console session ID sits at payload offset 4.
  assert.equal(consoleSessionIdOf(hex('0600ff07 06 13 00000000 00000000 0800 01 00 0000 44332211')), 0x11223344);
  assert.equal(consoleSessionIdOf(buildV15Packet(hex('00'))), 0);
});
