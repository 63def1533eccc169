// Telnet protocol: byte vectors in, events and replies out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BINARY, BRK, command, DO, DONT, ECHO, escapeIac, GA, IAC, MAX_SUBNEGOTIATION, NAWS, nawsSubnegotiation, SB, SE, SGA,
  TelnetClientProtocol, TelnetParser, ttypeIs, TTYPE, WILL, WONT, type TelnetEvent,
} from '../../src/drivers/telnet-protocol.js';

const b = (...bytes: (number | string)[]) => Buffer.concat(bytes.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));

/** Events with data as latin1 strings, adjacent data joined: easy to compare. */
function simplify(events: TelnetEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    const last = out[out.length - 1] as { data?: string } | undefined;
    if (e.type === 'data' && typeof last?.data === 'string' && !('option' in last)) last.data += e.data.toString('latin1');
    else if (e.type === 'data') out.push({ data: e.data.toString('latin1') });
    else if (e.type === 'subnegotiation') out.push({ sb: e.option, data: [...e.data] });
    else out.push(e);
  }
  return out;
}

/** Feed the stream cut at every possible point (and byte by byte): the events must not change. */
function parseEverySplit(stream: Buffer): unknown[] {
  const whole = simplify(new TelnetParser().feed(stream));
  for (let cut = 1; cut < stream.length; cut++) {
    const p = new TelnetParser();
    assert.deepEqual(simplify([...p.feed(stream.subarray(0, cut)), ...p.feed(stream.subarray(cut))]), whole, `split at ${cut}`);
  }
  const p = new TelnetParser();
  assert.deepEqual(simplify([...stream].flatMap((byte) => p.feed(Buffer.from([byte])))), whole, 'byte by byte');
  return whole;
}

describe('TelnetParser', () => {
  test('data passes through; IAC IAC is one 0xFF data byte', () => {
    assert.deepEqual(parseEverySplit(b('ab', IAC, IAC, 'c')), [{ data: 'ab\xffc' }]);
  });

  test('negotiations and commands between data, at any chunk boundary', () => {
    assert.deepEqual(parseEverySplit(b('x', IAC, WILL, ECHO, IAC, GA, 'y', IAC, DONT, NAWS, IAC, BRK)), [
      { data: 'x' },
      { type: 'negotiate', verb: WILL, option: ECHO },
      { type: 'command', command: GA },
      { data: 'y' },
      { type: 'negotiate', verb: DONT, option: NAWS },
      { type: 'command', command: BRK },
    ]);
  });

  test('subnegotiation with a doubled IAC in its payload', () => {
    assert.deepEqual(parseEverySplit(b('a', IAC, SB, TTYPE, 1, IAC, IAC, 2, IAC, SE, 'b')), [
      { data: 'a' },
      { sb: TTYPE, data: [1, 0xff, 2] },
      { data: 'b' },
    ]);
  });

  test('a command inside a subnegotiation ends it: the SB is dropped and the command taken', () => {
    assert.deepEqual(parseEverySplit(b(IAC, SB, NAWS, 0, 80, IAC, WILL, ECHO, 'z')), [
      { type: 'negotiate', verb: WILL, option: ECHO },
      { data: 'z' },
    ]);
  });

  test('an endless subnegotiation is cut at MAX_SUBNEGOTIATION bytes and does not grow', () => {
    const p = new TelnetParser();
    p.feed(b(IAC, SB, TTYPE));
    p.feed(Buffer.alloc(MAX_SUBNEGOTIATION * 4, 0x41));
    const [ev] = p.feed(b(IAC, SE));
    assert.equal(ev.type, 'subnegotiation');
    assert.equal((ev as { data: Buffer }).data.length, MAX_SUBNEGOTIATION);
  });

  test('data events are views of the chunk, not copies', () => {
    const chunk = b('hello');
    const [ev] = new TelnetParser().feed(chunk);
    assert.equal((ev as { data: Buffer }).data.buffer, chunk.buffer);
  });
});

describe('builders', () => {
  test('NAWS: 16-bit width and height, 0xFF bytes doubled, sizes clamped', () => {
    assert.deepEqual([...nawsSubnegotiation(80, 24)], [IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    assert.deepEqual([...nawsSubnegotiation(255, 300)], [IAC, SB, NAWS, 0, 255, 255, 1, 44, IAC, SE]);
    assert.deepEqual([...nawsSubnegotiation(0xffff, 0x1ff)], [IAC, SB, NAWS, 255, 255, 255, 255, 1, 255, 255, IAC, SE]);
    assert.deepEqual([...nawsSubnegotiation(70000, -5)], [IAC, SB, NAWS, 255, 255, 255, 255, 0, 0, IAC, SE]);
  });

  test('TTYPE IS <term>', () => {
    assert.deepEqual(ttypeIs('vt100'), b(IAC, SB, TTYPE, 0, 'vt100', IAC, SE));
  });

  test('IAC escaping and BREAK', () => {
    assert.deepEqual(escapeIac(b('a', 0xff, 0xff, 'b')), b('a', 0xff, 0xff, 0xff, 0xff, 'b'));
    const plain = b('no iac');
    assert.equal(escapeIac(plain), plain, 'nothing to escape: no copy');
    assert.deepEqual(command(BRK), b(IAC, BRK));
  });
});

describe('TelnetClientProtocol', () => {
  const client = () => new TelnetClientProtocol({ term: 'xterm-256color', cols: 80, rows: 24 });

  test("ser2net's opening offer: accept SGA, ECHO and BINARY both ways, ignore DONT of what is off", () => {
    const c = client();
    // What ser2net 4.3 sends on a telnet accepter (captured from the real daemon).
    const offer = b(IAC, WILL, SGA, IAC, DO, SGA, IAC, WILL, ECHO, IAC, DONT, ECHO, IAC, DO, BINARY, IAC, WILL, BINARY);
    const { data, reply } = c.receive(offer);
    assert.equal(data.length, 0);
    assert.deepEqual(reply, b(IAC, DO, SGA, IAC, WILL, SGA, IAC, DO, ECHO, IAC, WILL, BINARY, IAC, DO, BINARY));
    assert.deepEqual(c.options(), { local: ['binary', 'sga'], remote: ['binary', 'echo', 'sga'] });
    // The same offer again changes nothing, so nothing is answered: no negotiation loop.
    assert.equal(c.receive(offer).reply.length, 0);
  });

  test('refuses options it does not implement, once per request; a refusal acknowledged is not answered', () => {
    const c = client();
    assert.deepEqual(c.receive(b(IAC, DO, 24 + 100, IAC, WILL, 5)).reply, b(IAC, WONT, 124, IAC, DONT, 5));
    assert.equal(c.receive(b(IAC, WONT, 5, IAC, DONT, 124)).reply.length, 0);
  });

  test('an enabled option turned off is acknowledged once', () => {
    const c = client();
    c.receive(b(IAC, WILL, ECHO, IAC, DO, BINARY));
    assert.deepEqual(c.receive(b(IAC, WONT, ECHO, IAC, DONT, BINARY)).reply, b(IAC, DONT, ECHO, IAC, WONT, BINARY));
    assert.equal(c.receive(b(IAC, WONT, ECHO, IAC, DONT, BINARY)).reply.length, 0);
    assert.deepEqual(c.options(), { local: [], remote: [] });
  });

  test('DO NAWS: WILL NAWS and the window size at once, and again on every resize', () => {
    const c = client();
    assert.equal(c.resize(100, 30), undefined, 'no NAWS before the server asks for it');
    assert.deepEqual(c.receive(b(IAC, DO, NAWS)).reply, b(IAC, WILL, NAWS, IAC, SB, NAWS, 0, 100, 0, 30, IAC, SE));
    assert.deepEqual(c.resize(255, 50), b(IAC, SB, NAWS, 0, 255, 255, 0, 50, IAC, SE));
    c.receive(b(IAC, DONT, NAWS));
    assert.equal(c.resize(80, 24), undefined, 'no NAWS after the server turned it off');
  });

  test('DO TTYPE, then SEND: IS <term>; SEND before DO is not answered', () => {
    const c = client();
    const send = b(IAC, SB, TTYPE, 1, IAC, SE);
    assert.equal(c.receive(send).reply.length, 0);
    assert.deepEqual(c.receive(b(IAC, DO, TTYPE)).reply, b(IAC, WILL, TTYPE));
    // SEND split across two chunks.
    assert.equal(c.receive(send.subarray(0, 3)).reply.length, 0);
    assert.deepEqual(c.receive(send.subarray(3)).reply, b(IAC, SB, TTYPE, 0, 'xterm-256color', IAC, SE));
  });

  test('received data: IAC IAC undoubled; CR NUL is CR in NVT mode, also across chunks; CR LF kept', () => {
    const c = client();
    assert.deepEqual(c.receive(b('a', IAC, IAC, 'b\r\n')).data, b('a', 0xff, 'b\r\n'));
    assert.deepEqual(c.receive(b('x\r', 0, 'y\r')).data, b('x\ry\r'));
    assert.deepEqual(c.receive(b(0, 'z', 0)).data, b('z', 0), 'the NUL after a CR from the previous chunk goes; others stay');
  });

  test('received data in binary mode is left alone (NUL after CR included)', () => {
    const c = client();
    c.receive(b(IAC, WILL, BINARY));
    assert.deepEqual(c.receive(b('x\r', 0, 'y')).data, b('x\r', 0, 'y'));
  });

  test('typed input: IAC doubled; a lone CR becomes CR NUL until we send binary', () => {
    const c = client();
    assert.deepEqual(c.encode(b('ls\r')), b('ls\r', 0));
    assert.deepEqual(c.encode(b('a\r\nb', 0xff)), b('a\r\nb', 0xff, 0xff));
    const plain = b('plain');
    assert.equal(c.encode(plain), plain, 'nothing to change: no copy');
    c.receive(b(IAC, DO, BINARY));
    assert.deepEqual(c.encode(b('ls\r', 0xff)), b('ls\r', 0xff, 0xff));
  });
});
