import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  FLEET_DEFAULTS, MAX_MESSAGES_PER_SUBMISSION, fanOut, parseMessages, parseMessagesJson, type FleetMessage,
} from '../../src/fleet/message.js';
import { replyFilePath } from '../../src/fleet/reply-path.js';
import { commandPayloadText } from '../../src/fleet/wire.js';
import { FIXTURE_OUTCOMES, fixtureNames, readFixture } from '../support/fleet-fixtures.js';

async function accepted(name: string): Promise<FleetMessage[]> {
  return parseMessages(await readFixture(name)).messages;
}

/** Asserts a FLEET_MESSAGE refusal whose message matches. */
function refuses(input: unknown, message: RegExp | string): void {
  assert.throws(() => parseMessages(input), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FLEET_MESSAGE');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const cli = (extra: Record<string, unknown> = {}) => ({ toNode: 'ship1', method: 'REQCliCommand', data: ['true'], replyMethod: 'REQToConsole', ...extra });

test('every fixture file is listed here, and each is accepted or refused naming the field', async () => {
  assert.deepEqual(await fixtureNames(), Object.keys(FIXTURE_OUTCOMES).sort(), 'a new fixture file needs an expected outcome in test/support/fleet-fixtures.ts');
  for (const [name, outcome] of Object.entries(FIXTURE_OUTCOMES)) {
    const input = await readFixture(name);
    if (outcome === 'accepted') assert.doesNotThrow(() => parseMessages(input), name);
    else refuses(input, outcome);
  }
});

test('steward REQCliCommand with REQToFileAppend: argv from data, one target, timeouts as given', async () => {
  const [m] = await accepted('steward/cli-command-to-file-append.json');
  assert.deepEqual(m, {
    index: 0,
    method: 'cliCommand',
    kind: 'command',
    ordered: true,
    args: ['bash', '-c', 'sleep 5 & tree ./'],
    toNodes: ['ship1'],
    replyMethod: 'fileAppend',
    directory: 'cli_command__result',
    fileName: 'some-file-name.result',
    ackTimeout: 5, retries: 3, replyAckTimeout: 5, replyRetries: 3, methodTimeout: 10,
    replyMethodTimeout: FLEET_DEFAULTS.replyMethodTimeout, retryWait: FLEET_DEFAULTS.retryWait,
  });
});

test('steward toNodes fan-out: an empty toNode gives way to toNodes', async () => {
  const [m] = await accepted('steward/http-get-to-nodes.json');
  assert.equal(m.method, 'httpGet');
  assert.deepEqual(m.args, ['https://finn.no']);
  assert.deepEqual(m.toNodes, ['central', 'ship2']);
  assert.equal(m.replyMethod, 'file');
});

test('each addressed message gets its own id, a UUID version 7 that starts with the time it was made; they sort in the order made', () => {
  const before = Date.now();
  const addressed = fanOut(parseMessages([cli({ toNode: '', toNodes: Array.from({ length: 5000 }, (_, i) => `n${i}`) }), cli()]).messages);
  const after = Date.now();
  assert.equal(addressed.length, 5001);
  assert.equal(new Set(addressed.map((m) => m.id)).size, 5001, 'no two alike');
  const made = addressed.map((m) => m.id);
  assert.deepEqual([...made].sort(), made, 'sorted, they are in the order made (also within one ms)');
  for (const { id } of addressed) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = parseInt(id.replace('-', '').slice(0, 12), 16);
    assert.ok(ms >= before && ms <= after, `${id}: made at ${ms}, between ${before} and ${after}`);
  }
});

test("an envelope's payload made from its messages' own JSON texts is what JSON.stringify makes of it", async () => {
  const messages = fanOut([
    ...parseMessages(await readFixture('steward/http-get-to-nodes.json')).messages,
    ...parseMessages([cli({ data: ['sh', '-c', 'echo "quoted" \\ back\nslash ünïcødé 🚢 \u2028'] })]).messages,
  ]);
  for (const from of ['central', 'a "quoted" fleet']) {
    const expires = Date.now();
    assert.equal(commandPayloadText(messages.map((m) => JSON.stringify(m)), from, expires), JSON.stringify({ messages, from, expires }));
  }
});

test('steward two messages keep their submission index; defaults fill what is not given', async () => {
  const messages = await accepted('steward/two-messages.json');
  assert.deepEqual(messages.map((m) => [m.index, m.toNodes[0]]), [[0, 'ship1'], [1, 'ship2']]);
  assert.equal(messages[0].replyMethod, 'fileAppend', "steward's default reply method");
  assert.equal(messages[0].replyAckTimeout, FLEET_DEFAULTS.replyAckTimeout);
  assert.equal(messages[0].ackTimeout, 10);
  assert.equal(messages[0].methodTimeout, 4);
});

test("steward REQOpCommand: ps, startProc with allowedNodes and the MethodTimeout spelling, stopProc", async () => {
  const [ps] = await accepted('steward/op-ps.json');
  assert.deepEqual([ps.method, ps.op, ps.methodTimeout], ['op', { kind: 'ps' }, 7]);
  const [start] = await accepted('steward/op-start-proc.json');
  assert.deepEqual(start.op, { kind: 'startProc', method: 'nCliCommandCont', allowedNodes: ['central'] });
  assert.equal(start.methodTimeout, 7, "'MethodTimeout' is methodTimeout");
  const [stop] = await accepted('steward/op-stop-proc.json');
  assert.deepEqual(stop.op, { kind: 'stopProc', method: 'httpGet', receivingNode: 'ship2', procKind: 'subscriber' });
});

test('steward and ctrl tailFile normalise to the same method; the directory may start with ./', async () => {
  const [steward] = await accepted('steward/tail-file.json');
  const [ctrl] = await accepted('ctrl/tail-file.json');
  for (const m of [steward, ctrl]) assert.equal(m.method, 'tailFile');
  assert.deepEqual([steward.args, steward.toNodes, steward.methodTimeout], [['./test.log'], ['ship2'], 200]);
  assert.deepEqual([ctrl.args, ctrl.directory], [['/var/log/system.log'], './mine-tail-filer/']);
});

test('ctrl cliCommand: argv from methodArgs (or data in older files), console reply, replyMethodTimeout', async () => {
  const [m] = await accepted('ctrl/clicommand-to-console.json');
  assert.deepEqual([m.method, m.ordered, m.replyMethod], ['cliCommand', true, 'console']);
  assert.deepEqual(m.args, ['bash', '-c', 'hostname && curl -v http://debian.org']);
  assert.deepEqual([m.replyRetries, m.replyMethodTimeout], [5, 120]);
  const [old] = await accepted('ctrl/cli-command.json');
  assert.deepEqual([old.args, old.replyMethod, old.retries], [['bash', '-c', 'sleep 3 & tree ./'], 'fileAppend', 1]);
});

test('ctrl opProcessStart / opProcessStop take the operation from methodArgs', async () => {
  const [start] = await accepted('ctrl/operation-start-proc.json');
  assert.deepEqual([start.method, start.op, start.toNodes], ['op', { kind: 'startProc', method: 'httpGet' }, ['central']]);
  const [stop] = await accepted('ctrl/operation-stop-proc.json');
  assert.deepEqual(stop.op, { kind: 'stopProc', method: 'httpGet', receivingNode: 'central', procKind: 'subscriber' });
  assert.deepEqual(stop.toNodes, ['ship1'], 'a non-empty toNode wins over toNodes, as in steward and ctrl');
});

test('ctrl hello is an event with no reply; httpGet to a file', async () => {
  const [hello] = await accepted('ctrl/say-hello.json');
  assert.deepEqual([hello.method, hello.kind, hello.replyMethod, hello.toNodes], ['hello', 'event', 'none', ['central']]);
  const [get] = await accepted('ctrl/http-get.json');
  assert.deepEqual([get.method, get.kind, get.args, get.replyMethod, get.fileName], ['httpGet', 'command', ['http://vg.no'], 'file', 'somefile.html']);
});

test('n-methods are unordered; errorLog is an event; canonical names are accepted too', () => {
  const { messages } = parseMessages([
    cli({ method: 'REQnCliCommand' }),
    cli({ method: 'REQnCliCommandCont' }),
    cli({ method: 'REQCliCommandCont' }),
    cli({ method: 'nCliCommand' }),
    { toNode: 'central', method: 'REQErrorLog', data: ['boom'] },
    { toNode: 'ship1', method: 'opProcessList', replyMethod: 'console' },
  ]);
  assert.deepEqual(messages.map((m) => [m.method, m.ordered, m.kind]), [
    ['nCliCommand', false, 'command'],
    ['nCliCommandCont', false, 'command'],
    ['cliCommandCont', true, 'command'],
    ['nCliCommand', false, 'command'],
    ['errorLog', true, 'event'],
    ['op', true, 'command'],
  ]);
  assert.deepEqual(messages[5].op, { kind: 'ps' });
});

test('a single message object is taken as a submission of one; JSON text is parsed', () => {
  assert.equal(parseMessages(cli()).messages.length, 1);
  assert.equal(parseMessagesJson(JSON.stringify([cli(), cli()])).messages.length, 2);
  assert.throws(() => parseMessagesJson('[{"toNode":'), { code: 'FLEET_MESSAGE', message: /^submission: not valid JSON: / });
});

test('bad submissions are refused as a whole', () => {
  refuses('[]', 'submission: must be a JSON array of messages (or one message object)');
  refuses(42, 'submission: must be a JSON array of messages (or one message object)');
  refuses(null, 'submission: must be a JSON array of messages (or one message object)');
  refuses([], /^submission: is an empty array/);
  refuses(Array.from({ length: MAX_MESSAGES_PER_SUBMISSION + 1 }, () => cli()), /^submission: has 10001 messages, more than 10000/);
  refuses([cli(), 'ls'], /^message 1: must be a JSON object/);
  const manyNodes = Array.from({ length: 10_000 }, (_, i) => `n${i}`);
  refuses(Array.from({ length: 11 }, () => cli({ toNode: '', toNodes: manyNodes })), /^submission: fans out to 110000 node messages/);
});

test('bad messages are refused naming the index and the field', () => {
  const cases: Array<[Record<string, unknown>, string | RegExp]> = [
    [{ toNode: 'ship1' }, "message 1: field 'method': is required"],
    [cli({ method: 42 }), "message 1: field 'method': must be a method name"],
    [cli({ method: 'REQRmRf' }), /^message 1: field 'method': unknown method 'REQRmRf' \(known: REQCliCommand, cliCommand/],
    [cli({ method: 'REQCopySrc' }), "message 1: field 'method': 'REQCopySrc' is not supported yet"],
    [cli({ toNode: undefined }), "message 1: field 'toNode': is required: give toNode or toNodes (which node(s) the message is for)"],
    [cli({ toNode: '', toNodes: [] }), /^message 1: field 'toNode': is required/],
    [cli({ toNode: 7 }), "message 1: field 'toNode': must be a node name"],
    [cli({ toNode: undefined, toNodes: 'ship1' }), "message 1: field 'toNodes': must be a list of node names"],
    [cli({ toNode: undefined, toNodes: ['ship1', 3] }), "message 1: field 'toNodes': must be a list of node names"],
    [cli({ toNode: undefined, toNodes: ['ship1', '../etc'] }), "message 1: field 'toNodes[1]': '../etc' is not a valid node name"],
    [cli({ toNode: 'ship 1' }), "message 1: field 'toNode': 'ship 1' is not a valid node name"],
    [cli({ data: 'ls -l' }), "message 1: field 'data': must be a list of strings"],
    [cli({ data: [] }), /^message 1: field 'data': must give the command to run as argv/],
    [cli({ data: ['ls\0'] }), "message 1: field 'data': must not contain NUL bytes"],
    [cli({ methodArgs: ['ls'] }), "message 1: field 'methodArgs': give the arguments in 'methodArgs' or in 'data', not both"],
    [cli({ method: 'httpGet', data: ['file:///etc/passwd'] }), "message 1: field 'data': must start with the http:// or https:// URL to fetch"],
    [cli({ method: 'tailFile', data: [] }), "message 1: field 'data': must start with the path of the file to tail"],
    [cli({ replyMethod: 'REQToMars' }), /^message 1: field 'replyMethod': unknown reply method 'REQToMars'/],
    [cli({ replyMethod: undefined }), "message 1: field 'fileName': is required when the reply goes to a file (replyMethod fileAppend)"],
    [cli({ replyMethod: 'file', fileName: '../x' }), /^message 1: field 'fileName': '..\/x' must be a plain file name/],
    [cli({ replyMethod: 'file', fileName: 'x', directory: '../../etc' }), "message 1: field 'directory': '../../etc' leads outside the node's folder"],
    [cli({ directory: '/etc' }), "message 1: field 'directory': '/etc' must be relative to the node's folder"],
    [cli({ directory: 5 }), "message 1: field 'directory': must be a string"],
    [cli({ ACKTimeout: -5 }), "message 1: field 'ACKTimeout': must not be negative"],
    [cli({ retries: -1 }), "message 1: field 'retries': must not be negative"],
    [cli({ methodTimeout: -1 }), "message 1: field 'methodTimeout': -1 (run without a time limit) is not supported yet"],
    [cli({ methodTimeout: '5' }), "message 1: field 'methodTimeout': must be a whole number"],
    [cli({ replyACKTimeout: 1.5 }), "message 1: field 'replyACKTimeout': must be a whole number"],
    [cli({ retries: 1e9 }), "message 1: field 'retries': must be at most 1000"],
    [cli({ methodTimeout: 5, MethodTimeout: 6 }), "message 1: field 'methodTimeout': given twice, as 'methodTimeout' and 'MethodTimeout'"],
    [cli({ fromNode: 'ship9' }), /^message 1: field 'fromNode': unknown field \(known: toNode, toNodes, method/],
    [cli({ relayViaNode: 'central' }), "message 1: field 'relayViaNode': is not supported yet"],
    [cli({ Schedule: [1, 2] }), "message 1: field 'Schedule': is not supported yet"],
    [cli({ operation: { opCmd: 'ps' } }), "message 1: field 'operation': is only used by REQOpCommand"],
    [{ toNode: 'ship1', method: 'REQOpCommand' }, /^message 1: field 'operation': is required for REQOpCommand/],
    [{ toNode: 'ship1', method: 'REQOpCommand', operation: { opCmd: 'rm' } }, "message 1: field 'operation.opCmd': must be ps, startProc or stopProc, not 'rm'"],
    [{ toNode: 'ship1', method: 'REQOpCommand', operation: { opCmd: 'startProc' } }, /^message 1: field 'operation.opArg': is required for startProc/],
    [{ toNode: 'ship1', method: 'REQOpCommand', operation: { opCmd: 'startProc', opArg: { method: 'REQNope' } } }, "message 1: field 'operation.opArg.method': unknown method 'REQNope'"],
    [{ toNode: 'ship1', method: 'REQOpCommand', operation: { opCmd: 'startProc', opArg: { method: 'REQHttpGet', allowedNodes: 'central' } } }, "message 1: field 'operation.opArg.allowedNodes': must be a list of node names (or '*')"],
    [{ toNode: 'ship1', method: 'REQOpCommand', operation: { opCmd: 'stopProc', opArg: { method: 'REQHttpGet', kind: 'both' } } }, "message 1: field 'operation.opArg.kind': must be subscriber or publisher, not 'both'"],
    [{ toNode: 'ship1', method: 'opProcessStop', methodArgs: [] }, "message 1: field 'methodArgs[0]': must name the method to start or stop"],
    [{ toNode: 'ship1', method: 'opProcessStart', methodArgs: ['copySrc'] }, "message 1: field 'methodArgs[0]': 'copySrc' is not supported yet"],
  ];
  for (const [message, expected] of cases) refuses([cli(), message], expected);
});

test('case-insensitive field names, null as absent, and 0 as "use the default", as in steward', () => {
  const [m] = parseMessages([{ TONODE: 'ship1', Method: 'REQCliCommand', DATA: ['true'], replymethod: 'console', acktimeout: 0, retries: null, MethodTimeout: 9 }]).messages;
  assert.deepEqual([m.toNodes, m.args, m.replyMethod, m.ackTimeout, m.retries, m.methodTimeout], [['ship1'], ['true'], 'console', FLEET_DEFAULTS.ackTimeout, FLEET_DEFAULTS.retries, 9]);
});

test('the same node twice in toNodes is addressed once', () => {
  const [m] = parseMessages([cli({ toNode: undefined, toNodes: ['a', 'b', 'a'] })]).messages;
  assert.deepEqual(m.toNodes, ['a', 'b']);
});

test('fanOut gives one message per node, each with its own id, keeping the submission index', async () => {
  const messages = [...(await accepted('steward/two-messages.json')), ...(await accepted('steward/http-get-to-nodes.json')).map((m) => ({ ...m, index: 2 }))];
  const addressed = fanOut(messages);
  assert.deepEqual(addressed.map((a) => [a.index, a.toNode, a.method]), [
    [0, 'ship1', 'cliCommand'], [1, 'ship2', 'cliCommand'], [2, 'central', 'httpGet'], [2, 'ship2', 'httpGet'],
  ]);
  assert.equal(new Set(addressed.map((a) => a.id)).size, addressed.length);
  for (const a of addressed) {
    assert.equal('toNodes' in a, false);
  }
});

test('replyFilePath stays inside <root>/<node>', () => {
  const root = '/var/lib/switchboard/fleet';
  assert.equal(replyFilePath(root, 'ship1', 'cli/command/result', 'somefile.result'), '/var/lib/switchboard/fleet/ship1/cli/command/result/somefile.result');
  assert.equal(replyFilePath(root, 'ship2', './mine-tail-filer/', 'somefile.log'), '/var/lib/switchboard/fleet/ship2/mine-tail-filer/somefile.log');
  assert.equal(replyFilePath(root, 'ship2', '', 'some.log'), '/var/lib/switchboard/fleet/ship2/some.log');
  assert.equal(replyFilePath(root, 'ship2', 'a/../b', 'x..log'), '/var/lib/switchboard/fleet/ship2/b/x..log');
  assert.equal(replyFilePath('relative/root', 'n1', 'd', 'f'), path.resolve('relative/root/n1/d/f'));
  const refused: Array<[string, string, string, RegExp]> = [
    ['ship1', '..', 'x', /field 'directory': '\.\.' leads outside/],
    ['ship1', '../ship2', 'x', /field 'directory': '\.\.\/ship2' leads outside/],
    ['ship1', 'a/../../..', 'x', /field 'directory'.*leads outside/],
    ['ship1', '/etc', 'passwd', /field 'directory': '\/etc' must be relative/],
    ['ship1', 'ok\0', 'x', /field 'directory': must not contain NUL bytes/],
    ['ship1', 'ok', 'x\0.log', /field 'fileName': must not contain NUL bytes/],
    ['ship1', 'ok', '', /field 'fileName': must not be empty/],
    ['ship1', 'ok', '..', /field 'fileName': '\.\.' must be a plain file name/],
    ['ship1', 'ok', '.', /field 'fileName': '\.' must be a plain file name/],
    ['ship1', 'ok', '../../x', /field 'fileName'.*must be a plain file name/],
    ['ship1', '', '/etc/passwd', /field 'fileName'.*must be a plain file name/],
    ['../etc', 'ok', 'x', /^reply: field 'toNode': '\.\.\/etc' is not a valid node name/],
    ['', 'ok', 'x', /field 'toNode'/],
  ];
  for (const [node, directory, fileName, expected] of refused) {
    assert.throws(() => replyFilePath(root, node, directory, fileName), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FLEET_MESSAGE');
      assert.match(err.message, expected);
      return true;
    }, `${node} ${JSON.stringify(directory)} ${JSON.stringify(fileName)}`);
  }
});
