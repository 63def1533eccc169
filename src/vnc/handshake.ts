// The two RFB handshakes the proxy does (RFC 6143 section 7.1-7.3): as a client towards the VNC
// server, answering its password challenge; and as a server towards the browser, offering
// security None, so the browser never sees (or needs) the password. Both run over any byte
// transport; the caller supplies reads, writes and the deadline.
import { CHALLENGE_LENGTH, SECURITY_NONE, SECURITY_RESULT_OK, SECURITY_VNC_AUTH, VERSION_LENGTH } from './constants.js';
import { vncAuthResponse } from './des.js';
import { vncErrors } from './errors.js';

export interface HandshakeIo {
  read(n: number): Promise<Buffer>;
  write(data: Buffer): void;
}

/** The protocol minor version spoken after the greeting: 3, 7 or 8 (all of major version 3). */
export type RfbMinor = 3 | 7 | 8;

/** Reasons are for people and end up in a close reason; a huge length is not read in full. */
const MAX_REASON_BYTES = 1024;

export function versionMessage(minor: RfbMinor): Buffer {
  return Buffer.from(`RFB 003.00${minor}\n`, 'latin1');
}

/**
 * The version both sides speak, from the peer's greeting; undefined if it is no RFB greeting.
 * RFC 6143: an unknown 3.x counts as 3.3; later versions (Apple's 3.889, RealVNC's 4.x) speak 3.8.
 */
export function agreedMinor(greeting: Buffer): RfbMinor | undefined {
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(greeting.toString('latin1'));
  if (!m) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < 3) return undefined;
  if (major > 3 || minor >= 8) return 8;
  return minor === 7 ? 7 : 3;
}

async function readReason(io: HandshakeIo): Promise<string> {
  const length = (await io.read(4)).readUInt32BE(0);
  return length === 0 ? '' : (await io.read(Math.min(length, MAX_REASON_BYTES))).toString('utf8');
}

/** Which of the server's security types to use: VNC auth when we hold a password, else None. */
export function chooseSecurity(server: string, offered: number[], havePassword: boolean): number {
  if (havePassword && offered.includes(SECURITY_VNC_AUTH)) return SECURITY_VNC_AUTH;
  if (offered.includes(SECURITY_NONE)) return SECURITY_NONE;
  if (offered.includes(SECURITY_VNC_AUTH)) throw vncErrors.PASSWORD_REQUIRED(server);
  throw vncErrors.NO_COMMON_SECURITY(server, offered);
}

/**
 * Log in to a VNC server, up to (not including) ClientInit. `server` names it in errors
 * (host:port); the password never appears in one.
 */
export async function loginToServer(io: HandshakeIo, server: string, password: string | undefined): Promise<void> {
  const minor = agreedMinor(await io.read(VERSION_LENGTH));
  if (minor === undefined) throw vncErrors.NOT_RFB(server);
  io.write(versionMessage(minor));

  let type: number;
  if (minor === 3) {
    // 3.3: the server decides, and says 0 (with a reason) when it will not have us.
    type = (await io.read(4)).readUInt32BE(0);
    if (type === 0) throw vncErrors.REFUSED(server, await readReason(io));
    if (type === SECURITY_VNC_AUTH && !password) throw vncErrors.PASSWORD_REQUIRED(server);
    if (type !== SECURITY_NONE && type !== SECURITY_VNC_AUTH) throw vncErrors.NO_COMMON_SECURITY(server, [type]);
  } else {
    const count = (await io.read(1))[0];
    if (count === 0) throw vncErrors.REFUSED(server, await readReason(io));
    type = chooseSecurity(server, [...(await io.read(count))], password !== undefined);
    io.write(Buffer.from([type]));
  }

  if (type === SECURITY_VNC_AUTH) io.write(vncAuthResponse(password!, await io.read(CHALLENGE_LENGTH)));
  // SecurityResult follows VNC auth always, and security None only from 3.8 on.
  if (type === SECURITY_VNC_AUTH || minor === 8) {
    if ((await io.read(4)).readUInt32BE(0) === SECURITY_RESULT_OK) return;
    const reason = minor === 8 ? await readReason(io) : '';
    throw type === SECURITY_VNC_AUTH ? vncErrors.WRONG_PASSWORD(server, reason) : vncErrors.REFUSED(server, reason);
  }
}

/**
 * Greet a browser (noVNC) as a VNC server that needs no password, and read its ClientInit.
 * Returns the ClientInit's shared flag.
 */
export async function greetClient(io: HandshakeIo): Promise<{ shared: boolean }> {
  io.write(versionMessage(8));
  const minor = agreedMinor(await io.read(VERSION_LENGTH));
  if (minor === undefined) throw vncErrors.CLIENT_PROTOCOL('expected an RFB version greeting');
  if (minor === 3) {
    io.write(u32(SECURITY_NONE));
  } else {
    io.write(Buffer.from([1, SECURITY_NONE]));
    const chosen = (await io.read(1))[0];
    if (chosen !== SECURITY_NONE) throw vncErrors.CLIENT_PROTOCOL(`chose security type ${chosen}; only 1 (None) is offered`);
    if (minor === 8) io.write(u32(SECURITY_RESULT_OK));
  }
  return { shared: (await io.read(1))[0] !== 0 };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
