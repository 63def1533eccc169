/**
 * The fleet message model: steward's and ctrl's message files, accepted as those tools write them,
 * normalised into one shape (FleetMessage) that the controller and the agents work with.
 *
 * A submission is a JSON array of message objects (one object alone is taken as an array of one),
 * at most MAX_MESSAGES_PER_SUBMISSION. Field names match case-insensitively, as Go's encoding/json
 * matched them for steward (that is why steward's `MethodTimeout` works); one field given under two
 * spellings is refused. `null` counts as absent, as it did in Go.
 *
 *   field                     JSON               meaning
 *   toNode | toNodes          name | [names]     target(s); a non-empty toNode wins over toNodes (steward's and ctrl's rule)
 *   method                    string             what to do (table below)
 *   data | methodArgs         [strings]          argv, URL or path: steward uses data, ctrl methodArgs (older ctrl files data)
 *   operation {opCmd, opArg}  object             steward's REQOpCommand only
 *   replyMethod               string             where the result goes (table below); default fileAppend, events none
 *   directory, fileName       strings            file replies go to <data>/fleet/<node>/<directory>/<fileName>
 *   ACKTimeout, retries, replyACKTimeout, replyRetries, methodTimeout, replyMethodTimeout, retryWait
 *                             whole numbers      seconds / counts; 0 or absent means the default (FLEET_DEFAULTS),
 *                                                as in steward, where Go's zero value meant "not given"
 *
 *   steward                         ctrl              FleetMessage
 *   REQCliCommand                   cliCommand        cliCommand       ordered
 *   REQnCliCommand                  (none)            nCliCommand      unordered
 *   REQCliCommandCont               cliCommandCont    cliCommandCont   ordered, output streamed
 *   REQnCliCommandCont              (none)            nCliCommandCont  unordered, output streamed
 *   REQTailFile                     tailFile          tailFile
 *   REQHttpGet                      httpGet           httpGet
 *   REQHello                        hello             hello            event (fire-and-forget)
 *   REQErrorLog                     errorLog          errorLog         event (fire-and-forget)
 *   REQOpCommand opCmd ps           opProcessList     op {kind: 'ps'}
 *   REQOpCommand opCmd startProc    opProcessStart    op {kind: 'startProc', method, allowedNodes}
 *     opArg {method, allowedNodes}    methodArgs [method]
 *   REQOpCommand opCmd stopProc     opProcessStop     op {kind: 'stopProc', method, receivingNode, procKind}
 *     opArg {method, receivingNode, kind}  methodArgs [method, receivingNode, kind]
 *   replies: REQToConsole / console, REQToFile / file, REQToFileAppend / fileAppend, REQNone / none
 *
 * Our own canonical names (nCliCommand, ...) are accepted too. Refused as "not supported yet", naming
 * the field: schedule and the relay fields, copySrc and the other methods listed in NOT_YET_METHODS,
 * and methodTimeout -1 (steward's "no time limit").
 */
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { isValidNodeName } from '../model/node.js';
import { fieldError, quote, refusal, shorten } from './message-error.js';
import { checkReplyDirectory, replyRelativePath } from './reply-path.js';

export const MAX_MESSAGES_PER_SUBMISSION = 10_000;
/** After fan-out: 10,000 messages to 10,000 nodes each would be 10^8 queue entries. */
export const MAX_ADDRESSED_PER_SUBMISSION = 100_000;
const MAX_ARGS = 4096;
const MAX_SECONDS = 7 * 86_400;
const MAX_RETRIES = 1000;

/**
 * The one place for defaults. ACK timeout and retries are steward's configuration defaults
 * (DefaultMessageTimeout 10, DefaultMessageRetries 1); steward has no documented method timeout
 * default, 60 s is ours.
 */
export const FLEET_DEFAULTS = {
  ackTimeout: 10,
  retries: 1,
  methodTimeout: 60,
  replyAckTimeout: 10,
  replyRetries: 1,
  replyMethodTimeout: 60,
  retryWait: 0,
} as const;

export type FleetMethod =
  | 'cliCommand' | 'nCliCommand' | 'cliCommandCont' | 'nCliCommandCont'
  | 'tailFile' | 'httpGet' | 'hello' | 'errorLog' | 'op';
export type ReplyMethod = 'console' | 'file' | 'fileAppend' | 'none';
export type OpKind = 'ps' | 'startProc' | 'stopProc';

/** A run-time change to an agent's methods; `method` is a canonical request or reply method name. */
export type OpCommand =
  | { kind: 'ps' }
  | { kind: 'startProc'; method: FleetMethod | ReplyMethod; allowedNodes?: string[] }
  | { kind: 'stopProc'; method: FleetMethod | ReplyMethod; receivingNode?: string; procKind?: 'subscriber' | 'publisher' };

export interface FleetTiming {
  ackTimeout: number;
  retries: number;
  methodTimeout: number;
  replyAckTimeout: number;
  replyRetries: number;
  replyMethodTimeout: number;
  retryWait: number;
}

export interface FleetMessage extends FleetTiming {
  /** Position in the submitted array, so errors and results can refer back to it. */
  index: number;
  method: FleetMethod;
  /** Commands are ACKed by the agent; events are fire-and-forget. */
  kind: 'command' | 'event';
  /** False for the n-methods, which run concurrently without the per-node order guarantee. */
  ordered: boolean;
  /** argv for commands, [url] for httpGet, [path] for tailFile, as given otherwise. */
  args: string[];
  toNodes: string[];
  replyMethod: ReplyMethod;
  /** Relative to the node's reply folder; '' is that folder. */
  directory: string;
  fileName?: string;
  op?: OpCommand;
}

/** One message for one node, as the controller queues it. */
export interface AddressedMessage extends Omit<FleetMessage, 'toNodes'> {
  id: string;
  toNode: string;
}

interface MethodInfo {
  method: FleetMethod;
  ordered: boolean;
  kind: 'command' | 'event';
  /** Set for ctrl's opProcess* methods, which name the operation in the method itself. */
  op?: OpKind;
}

const command = (method: FleetMethod, ordered = true, op?: OpKind): MethodInfo => ({ method, ordered, kind: 'command', ...(op && { op }) });
const event = (method: FleetMethod): MethodInfo => ({ method, ordered: true, kind: 'event' });

const METHODS: Record<string, MethodInfo> = {
  REQCliCommand: command('cliCommand'), cliCommand: command('cliCommand'),
  REQnCliCommand: command('nCliCommand', false), nCliCommand: command('nCliCommand', false),
  REQCliCommandCont: command('cliCommandCont'), cliCommandCont: command('cliCommandCont'),
  REQnCliCommandCont: command('nCliCommandCont', false), nCliCommandCont: command('nCliCommandCont', false),
  REQTailFile: command('tailFile'), tailFile: command('tailFile'),
  REQHttpGet: command('httpGet'), httpGet: command('httpGet'),
  REQHello: event('hello'), hello: event('hello'),
  REQErrorLog: event('errorLog'), errorLog: event('errorLog'),
  REQOpCommand: command('op'),
  opProcessList: command('op', true, 'ps'),
  opProcessStart: command('op', true, 'startProc'),
  opProcessStop: command('op', true, 'stopProc'),
};

const REPLY_METHODS: Record<string, ReplyMethod> = {
  REQToConsole: 'console', console: 'console',
  REQToFile: 'file', file: 'file',
  REQToFileAppend: 'fileAppend', fileAppend: 'fileAppend',
  REQNone: 'none', none: 'none',
};

/** Methods steward or ctrl have that a later issue brings: refused as "not supported yet", not "unknown". */
const NOT_YET_METHODS = new Set([
  'copySrc', 'copyDst', 'REQCopySrc', 'REQCopyDst', 'REQCopyFileFrom', 'REQCopyFileTo',
  'httpGetScheduled', 'REQHttpGetScheduled', 'REQPing', 'REQPong', 'ping', 'pong',
  'REQRelay', 'REQRelayInitial', 'REQToSocket', 'REQTextToLogFile',
]);

const FIELDS = [
  'toNode', 'toNodes', 'method', 'data', 'methodArgs', 'operation', 'replyMethod', 'directory', 'fileName',
  'ACKTimeout', 'retries', 'replyACKTimeout', 'replyRetries', 'methodTimeout', 'replyMethodTimeout', 'retryWait',
] as const;
type Field = (typeof FIELDS)[number];
type Fields = Partial<Record<Field, unknown>>;

const NOT_YET_FIELDS = ['schedule', 'relayViaNode', 'relayReplyMethod', 'relayOriginalViaNode', 'relayFromNode', 'relayOriginalMethod'];

/** Parses a submission that is still JSON text (unix socket, `switchboard send FILE.json`). */
export function parseMessagesJson(text: string): { messages: FleetMessage[] } {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw refusal('submission', `not valid JSON: ${(err as Error).message}`);
  }
  return parseMessages(input);
}

/** Validates and normalises a submission; throws FLEET_MESSAGE for the first problem found. */
export function parseMessages(input: unknown): { messages: FleetMessage[] } {
  const messages = submissionList(input).map((raw, index) => parseMessage(raw, index));
  const addressed = messages.reduce((sum, m) => sum + m.toNodes.length, 0);
  if (addressed > MAX_ADDRESSED_PER_SUBMISSION) {
    throw refusal('submission', `fans out to ${addressed} node messages, more than ${MAX_ADDRESSED_PER_SUBMISSION}: split it`);
  }
  return { messages };
}

/** One message per target node, each with its own id; `index` still points into the submission. */
export function fanOut(messages: readonly FleetMessage[]): AddressedMessage[] {
  return messages.flatMap(({ toNodes, ...message }) => toNodes.map((toNode) => ({ ...message, id: messageId(), toNode })));
}

/** Random bytes for ids, taken 16 at a time from a buffer filled 4 KB at once; the last id's time and counter. */
const ids = { pool: Buffer.alloc(4096), at: 4096, msecs: -Infinity, seq: 0 };

/**
 * A message id: a UUID version 7 (RFC 9562), which starts with the time in ms, then a counter that
 * starts at random each ms and goes up by one, so ids made one after another sort in the order
 * made. The store's index of ids takes each new one after the last instead of anywhere in it: with
 * random (version 4) ids an insert wrote a page of that index for nearly every message and cost more
 * as the table grew (7 → 12 µs at 200,000 messages; 6.5 with these). The random bytes come from a
 * pool: uuid's own v7 draws 16 fresh ones per id (1.9 µs).
 */
export function messageId(): string {
  if (ids.at + 16 > ids.pool.length) {
    randomFillSync(ids.pool);
    ids.at = 0;
  }
  const random = ids.pool.subarray(ids.at, (ids.at += 16));
  const now = Date.now();
  if (now > ids.msecs) {
    ids.msecs = now;
    ids.seq = random.readUInt32BE(6) & 0x3fffffff; // room to count up within the ms
  } else if (++ids.seq > 0xffffffff) {
    ids.msecs++; // a 32-bit counter run out within one ms: the next ms, as RFC 9562 allows
    ids.seq = 0;
  }
  return uuidv7({ random, msecs: ids.msecs, seq: ids.seq });
}

/** A request method by any of its names (REQHttpGet, httpGet); undefined for ctrl's op* names and unknown ones. */
export function canonicalMethod(name: string): FleetMethod | undefined {
  const info = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
  return info && !info.op ? info.method : undefined;
}

function submissionList(input: unknown): unknown[] {
  if (isObject(input)) return [input];
  if (!Array.isArray(input)) throw refusal('submission', 'must be a JSON array of messages (or one message object)');
  if (input.length === 0) throw refusal('submission', 'is an empty array: there is no message in it');
  if (input.length > MAX_MESSAGES_PER_SUBMISSION) {
    throw refusal('submission', `has ${input.length} messages, more than ${MAX_MESSAGES_PER_SUBMISSION}: split it`);
  }
  return input;
}

function parseMessage(raw: unknown, index: number): FleetMessage {
  const where = `message ${index}`;
  if (!isObject(raw)) throw refusal(where, 'must be a JSON object with at least toNode or toNodes, and method');
  const fields = canonicalFields(raw, where);
  const info = parseMethod(fields.method, where);
  const toNodes = parseTargets(fields, where);
  const { args, argsField } = parseArgs(fields, where);
  checkArgs(info.method, args, argsField, where);
  const op = info.method === 'op' ? parseOperation(info, fields, args, argsField, where) : undefined;
  if (!op && fields.operation !== undefined) throw fieldError(where, 'operation', 'is only used by REQOpCommand');
  const replyMethod = parseReplyMethod(fields.replyMethod, info.kind, where);
  return {
    index,
    method: info.method,
    kind: info.kind,
    ordered: info.ordered,
    args,
    toNodes,
    replyMethod,
    ...parseReplyLocation(fields, replyMethod, where),
    ...parseTiming(fields, where),
    ...(op && { op }),
  };
}

/** Maps each key to its canonical field the way Go's encoding/json did: case-insensitively. */
function canonicalFields(raw: Record<string, unknown>, where: string): Fields {
  const fields: Fields = {};
  const givenAs = new Map<Field, string>();
  for (const [key, value] of Object.entries(raw)) {
    const field = matchKey(FIELDS, key);
    if (!field) {
      const notYet = matchKey(NOT_YET_FIELDS, key);
      if (notYet) throw fieldError(where, key, 'is not supported yet');
      throw fieldError(where, shorten(key), `unknown field (known: ${FIELDS.join(', ')})`);
    }
    const earlier = givenAs.get(field);
    if (earlier !== undefined) throw fieldError(where, field, `given twice, as '${earlier}' and '${key}'`);
    givenAs.set(field, key);
    if (value !== null) fields[field] = value;
  }
  return fields;
}

function matchKey<T extends string>(names: readonly T[], key: string): T | undefined {
  const lower = key.toLowerCase();
  return names.find((name) => name.toLowerCase() === lower);
}

function parseMethod(value: unknown, where: string): MethodInfo {
  if (value === undefined || value === '') throw fieldError(where, 'method', 'is required');
  if (typeof value !== 'string') throw fieldError(where, 'method', 'must be a method name');
  if (NOT_YET_METHODS.has(value)) throw fieldError(where, 'method', `${quote(value)} is not supported yet`);
  const info = Object.hasOwn(METHODS, value) ? METHODS[value] : undefined;
  if (!info) throw fieldError(where, 'method', `unknown method ${quote(value)} (known: ${Object.keys(METHODS).join(', ')})`);
  return info;
}

function parseTargets(fields: Fields, where: string): string[] {
  const { toNode, toNodes } = fields;
  if (toNode !== undefined && typeof toNode !== 'string') throw fieldError(where, 'toNode', 'must be a node name');
  if (toNodes !== undefined && !isStringList(toNodes)) throw fieldError(where, 'toNodes', 'must be a list of node names');
  // steward's and ctrl's rule: a non-empty toNode wins; toNodes is used only without one.
  if (toNode) return [checkNodeName(toNode, where, 'toNode')];
  if (!toNodes?.length) throw fieldError(where, 'toNode', 'is required: give toNode or toNodes (which node(s) the message is for)');
  toNodes.forEach((name, i) => checkNodeName(name, where, `toNodes[${i}]`));
  // The same node twice would run the method twice; nobody means that.
  return [...new Set(toNodes)];
}

function checkNodeName(name: string, where: string, field: string): string {
  if (!isValidNodeName(name)) throw fieldError(where, field, `${quote(name)} is not a valid node name`);
  return name;
}

/** ctrl moved the arguments from `data` to `methodArgs`; its older example files still use `data`. */
function parseArgs(fields: Fields, where: string): { args: string[]; argsField: 'data' | 'methodArgs' } {
  const { data, methodArgs } = fields;
  for (const [field, value] of [['data', data], ['methodArgs', methodArgs]] as const) {
    if (value !== undefined && !isStringList(value)) throw fieldError(where, field, 'must be a list of strings');
    if (isStringList(value) && value.length > MAX_ARGS) throw fieldError(where, field, `has more than ${MAX_ARGS} items`);
  }
  const dataArgs = isStringList(data) ? data : [];
  const ctrlArgs = isStringList(methodArgs) ? methodArgs : [];
  if (dataArgs.length > 0 && ctrlArgs.length > 0) throw fieldError(where, 'methodArgs', "give the arguments in 'methodArgs' or in 'data', not both");
  // Errors name the field the sender used: the non-empty one, else whichever was given.
  const argsField = ctrlArgs.length > 0 || (methodArgs !== undefined && dataArgs.length === 0) ? 'methodArgs' : 'data';
  return { args: [...(ctrlArgs.length > 0 ? ctrlArgs : dataArgs)], argsField };
}

/** What each method needs from its arguments, checked here so a bad message never reaches an agent. */
function checkArgs(method: FleetMethod, args: string[], field: string, where: string): void {
  switch (method) {
    case 'cliCommand':
    case 'nCliCommand':
    case 'cliCommandCont':
    case 'nCliCommandCont':
      if (!args[0]) throw fieldError(where, field, 'must give the command to run as argv, e.g. ["bash", "-c", "uptime"]');
      // execve cannot pass a NUL byte; say so here rather than fail on the agent.
      if (args.some((a) => a.includes('\0'))) throw fieldError(where, field, 'must not contain NUL bytes');
      return;
    case 'httpGet':
      if (!isHttpUrl(args[0])) throw fieldError(where, field, 'must start with the http:// or https:// URL to fetch');
      return;
    case 'tailFile':
      if (!args[0] || args[0].includes('\0')) throw fieldError(where, field, 'must start with the path of the file to tail');
      return;
    default:
      return; // hello, errorLog: arguments unused; op: checked by parseOperation
  }
}

function isHttpUrl(text: string | undefined): boolean {
  if (!text) return false;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function parseOperation(info: MethodInfo, fields: Fields, args: string[], argsField: string, where: string): OpCommand {
  if (!info.op) return stewardOperation(fields.operation, where);
  if (fields.operation !== undefined) throw fieldError(where, 'operation', `is for REQOpCommand; ctrl's op methods take their arguments in ${argsField}`);
  return ctrlOperation(info.op, args, argsField, where);
}

/** steward: {"opCmd": "startProc", "opArg": {"method": "REQHttpGet", "allowedNodes": ["central"]}}. */
function stewardOperation(value: unknown, where: string): OpCommand {
  if (value === undefined) throw fieldError(where, 'operation', 'is required for REQOpCommand: {"opCmd": "ps" | "startProc" | "stopProc", "opArg": {...}}');
  const operation = nestedFields(value, ['opCmd', 'opArg'], where, 'operation');
  const opCmd = operation.opCmd;
  if (opCmd === 'ps') return { kind: 'ps' };
  if (opCmd !== 'startProc' && opCmd !== 'stopProc') throw fieldError(where, 'operation.opCmd', `must be ps, startProc or stopProc, not ${quote(opCmd)}`);
  if (operation.opArg === undefined) throw fieldError(where, 'operation.opArg', `is required for ${opCmd}: {"method": ...}`);
  const opArg = nestedFields(operation.opArg, ['method', 'allowedNodes', 'kind', 'receivingNode'], where, 'operation.opArg');
  const method = opTargetMethod(opArg.method, where, 'operation.opArg.method');
  if (opCmd === 'startProc') {
    const allowedNodes = opArg.allowedNodes === undefined ? undefined : allowedNodeList(opArg.allowedNodes, where, 'operation.opArg.allowedNodes');
    return { kind: 'startProc', method, ...(allowedNodes && { allowedNodes }) };
  }
  return stopProc(method, opArg.receivingNode, opArg.kind, where, 'operation.opArg.receivingNode', 'operation.opArg.kind');
}

/** ctrl: opProcessStart ["httpGet"]; opProcessStop ["httpGet", "central", "subscriber"]. */
function ctrlOperation(kind: OpKind, args: string[], argsField: string, where: string): OpCommand {
  if (kind === 'ps') return { kind: 'ps' };
  const method = opTargetMethod(args[0], where, `${argsField}[0]`);
  if (kind === 'startProc') return { kind: 'startProc', method };
  return stopProc(method, args[1] || undefined, args[2] || undefined, where, `${argsField}[1]`, `${argsField}[2]`);
}

function stopProc(method: FleetMethod | ReplyMethod, node: unknown, procKind: unknown, where: string, nodeField: string, kindField: string): OpCommand {
  if (node !== undefined && (typeof node !== 'string' || !isValidNodeName(node))) throw fieldError(where, nodeField, `${quote(node)} is not a valid node name`);
  if (procKind !== undefined && procKind !== 'subscriber' && procKind !== 'publisher') throw fieldError(where, kindField, `must be subscriber or publisher, not ${quote(procKind)}`);
  return { kind: 'stopProc', method, ...(node !== undefined && { receivingNode: node }), ...(procKind !== undefined && { procKind }) };
}

/** The method an operation starts or stops: any request or reply method, by either generation's name. */
function opTargetMethod(value: unknown, where: string, field: string): FleetMethod | ReplyMethod {
  if (typeof value !== 'string' || value === '') throw fieldError(where, field, 'must name the method to start or stop');
  if (NOT_YET_METHODS.has(value)) throw fieldError(where, field, `${quote(value)} is not supported yet`);
  const target = (Object.hasOwn(METHODS, value) ? METHODS[value].method : undefined) ?? (Object.hasOwn(REPLY_METHODS, value) ? REPLY_METHODS[value] : undefined);
  if (!target || target === 'op') throw fieldError(where, field, `unknown method ${quote(value)}`);
  return target;
}

function allowedNodeList(value: unknown, where: string, field: string): string[] {
  // '*' is steward's "any node".
  if (!isStringList(value) || !value.every((n) => n === '*' || isValidNodeName(n))) throw fieldError(where, field, "must be a list of node names (or '*')");
  return [...value];
}

/** An object inside a message (operation, opArg), its keys matched like the message's own. */
function nestedFields<T extends string>(value: unknown, names: readonly T[], where: string, field: string): Partial<Record<T, unknown>> {
  if (!isObject(value)) throw fieldError(where, field, 'must be an object');
  const out: Partial<Record<T, unknown>> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = matchKey(names, key);
    if (!name) throw fieldError(where, `${field}.${shorten(key)}`, `unknown field (known: ${names.join(', ')})`);
    if (v !== null) out[name] = v;
  }
  return out;
}

function parseReplyMethod(value: unknown, kind: 'command' | 'event', where: string): ReplyMethod {
  // steward's default for commands is REQToFileAppend; events (hello, errorLog) are not replied to.
  if (value === undefined || value === '') return kind === 'event' ? 'none' : 'fileAppend';
  if (typeof value !== 'string') throw fieldError(where, 'replyMethod', 'must be a reply method name');
  const reply = Object.hasOwn(REPLY_METHODS, value) ? REPLY_METHODS[value] : undefined;
  if (!reply) throw fieldError(where, 'replyMethod', `unknown reply method ${quote(value)} (known: ${Object.keys(REPLY_METHODS).join(', ')})`);
  return reply;
}

function parseReplyLocation(fields: Fields, replyMethod: ReplyMethod, where: string): { directory: string; fileName?: string } {
  const { directory = '', fileName } = fields;
  if (typeof directory !== 'string') throw fieldError(where, 'directory', 'must be a string');
  if (fileName !== undefined && typeof fileName !== 'string') throw fieldError(where, 'fileName', 'must be a string');
  const toFile = replyMethod === 'file' || replyMethod === 'fileAppend';
  if (toFile && !fileName) throw fieldError(where, 'fileName', `is required when the reply goes to a file (replyMethod ${replyMethod})`);
  if (fileName) replyRelativePath(where, directory, fileName);
  else checkReplyDirectory(where, directory);
  return { directory, ...(fileName && { fileName }) };
}

const TIMING: ReadonlyArray<[Field, keyof FleetTiming, number]> = [
  ['ACKTimeout', 'ackTimeout', MAX_SECONDS],
  ['retries', 'retries', MAX_RETRIES],
  ['methodTimeout', 'methodTimeout', MAX_SECONDS],
  ['replyACKTimeout', 'replyAckTimeout', MAX_SECONDS],
  ['replyRetries', 'replyRetries', MAX_RETRIES],
  ['replyMethodTimeout', 'replyMethodTimeout', MAX_SECONDS],
  ['retryWait', 'retryWait', MAX_SECONDS],
];

function parseTiming(fields: Fields, where: string): FleetTiming {
  const timing: FleetTiming = { ...FLEET_DEFAULTS };
  for (const [field, key, max] of TIMING) {
    const value = fields[field];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw fieldError(where, field, 'must be a whole number');
    if (value === -1 && (field === 'methodTimeout' || field === 'replyMethodTimeout')) {
      throw fieldError(where, field, '-1 (run without a time limit) is not supported yet');
    }
    if (value < 0) throw fieldError(where, field, 'must not be negative');
    if (value > max) throw fieldError(where, field, `must be at most ${max}`);
    if (value > 0) timing[key] = value; // 0 keeps the default, as in steward
  }
  return timing;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
