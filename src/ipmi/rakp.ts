// RMCP+ session setup (IPMI v2.0 sections 13.17-13.23): Open Session and RAKP messages 1-4,
// as pure build/parse functions plus the key exchange auth codes and their checks.
import { RMCP_STATUS, type CipherSuite } from './constants.js';
import { equalBytes, hmac } from './crypto.js';
import { IpmiError, ipmiErrors } from './errors.js';

/** Open Session Request (table 13-9). */
export function buildOpenSessionRequest(o: { tag: number; privilege: number; consoleSessionId: number; suite: CipherSuite }): Buffer {
  const b = Buffer.alloc(32);
  b[0] = o.tag;
  b[1] = o.privilege;
  b.writeUInt32LE(o.consoleSessionId >>> 0, 4);
  const algorithm = (at: number, type: number, alg: number) => {
    b[at] = type;
    b[at + 3] = 0x08; // payload length
    b[at + 4] = alg;
  };
  algorithm(8, 0x00, o.suite.auth);
  algorithm(16, 0x01, o.suite.integrity);
  algorithm(24, 0x02, o.suite.confidentiality);
  return b;
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  privilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}

/**
 * Open Session Response (table 13-10). A refusal may be as short as tag + status: ipmi_sim answers
 * an unsupported suite with 2 bytes, though the spec shows 8.
 */
export function parseOpenSessionResponse(b: Buffer): OpenSessionResponse {
  if (b.length < 2) throw ipmiErrors.MALFORMED('Open Session response');
  const ok = b[1] === RMCP_STATUS.OK;
  if (ok && b.length < 36) throw ipmiErrors.MALFORMED('Open Session response');
  return {
    tag: b[0]!,
    status: b[1]!,
    privilege: b[2]!,
    consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0,
    bmcSessionId: ok ? b.readUInt32LE(8) : 0,
    auth: ok ? b[16]! : 0,
    integrity: ok ? b[24]! : 0,
    confidentiality: ok ? b[32]! : 0,
  };
}

/** RAKP Message 1 (table 13-11). `role` is the whole byte: privilege | lookup bit. */
export function buildRakp1(o: { tag: number; bmcSessionId: number; rm: Buffer; role: number; user: Buffer }): Buffer {
  if (o.rm.length !== 16) throw ipmiErrors.BAD_ARGUMENT('RAKP 1 random number must be 16 bytes');
  if (o.user.length > 16) throw ipmiErrors.BAD_ARGUMENT('an IPMI user name is at most 16 bytes');
  const b = Buffer.alloc(28 + o.user.length);
  b[0] = o.tag;
  b.writeUInt32LE(o.bmcSessionId >>> 0, 4);
  o.rm.copy(b, 8);
  b[24] = o.role;
  b[27] = o.user.length;
  o.user.copy(b, 28);
  return b;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  rc: Buffer;
  guid: Buffer;
  authCode: Buffer;
}

/** RAKP Message 2 (table 13-12). */
export function parseRakp2(b: Buffer): Rakp2 {
  if (b.length < 2) throw ipmiErrors.MALFORMED('RAKP 2');
  const ok = b[1] === RMCP_STATUS.OK;
  if (ok && b.length < 40) throw ipmiErrors.MALFORMED('RAKP 2');
  return {
    tag: b[0]!,
    status: b[1]!,
    consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0,
    rc: ok ? Buffer.from(b.subarray(8, 24)) : Buffer.alloc(0),
    guid: ok ? Buffer.from(b.subarray(24, 40)) : Buffer.alloc(0),
    authCode: ok ? Buffer.from(b.subarray(40)) : Buffer.alloc(0),
  };
}

export interface HandshakeValues {
  consoleSessionId: number;
  bmcSessionId: number;
  rm: Buffer;
  rc: Buffer;
  guid: Buffer;
  role: number;
  user: Buffer;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** RAKP 2 key exchange auth code: HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | RoleM | ULengthM | UNameM). */
export function rakp2AuthCode(suite: CipherSuite, kuid: Buffer, v: HandshakeValues): Buffer {
  return hmac(suite.hash, kuid, u32(v.consoleSessionId), u32(v.bmcSessionId), v.rm, v.rc, v.guid, Buffer.from([v.role, v.user.length]), v.user);
}

/** RAKP 3 key exchange auth code: HMAC_Kuid(Rc | SIDm | RoleM | ULengthM | UNameM). */
export function rakp3AuthCode(suite: CipherSuite, kuid: Buffer, v: HandshakeValues): Buffer {
  return hmac(suite.hash, kuid, v.rc, u32(v.consoleSessionId), Buffer.from([v.role, v.user.length]), v.user);
}

/** RAKP 4 integrity check value: HMAC_SIK(Rm | SIDc | GUIDc), truncated to the suite's integrity length. */
export function rakp4Icv(suite: CipherSuite, sik: Buffer, v: HandshakeValues): Buffer {
  return hmac(suite.hash, sik, v.rm, u32(v.bmcSessionId), v.guid).subarray(0, suite.integrityLength);
}

/** RAKP Message 3 (table 13-13); a non-zero status tells the BMC to drop the half-open session. */
export function buildRakp3(o: { tag: number; status: number; bmcSessionId: number; authCode: Buffer }): Buffer {
  const b = Buffer.alloc(8);
  b[0] = o.tag;
  b[1] = o.status;
  b.writeUInt32LE(o.bmcSessionId >>> 0, 4);
  return o.status === RMCP_STATUS.OK ? Buffer.concat([b, o.authCode]) : b;
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  icv: Buffer;
}

/** RAKP Message 4 (table 13-14). */
export function parseRakp4(b: Buffer): Rakp4 {
  if (b.length < 2) throw ipmiErrors.MALFORMED('RAKP 4');
  return { tag: b[0]!, status: b[1]!, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0, icv: Buffer.from(b.subarray(8)) };
}

/** The BMC's RAKP 2 proves it knows the password we hold; a mismatch means our password is wrong. */
export function checkRakp2(suite: CipherSuite, kuid: Buffer, v: HandshakeValues, got: Buffer): boolean {
  return equalBytes(rakp2AuthCode(suite, kuid, v), got);
}

export function checkRakp4(suite: CipherSuite, sik: Buffer, v: HandshakeValues, got: Buffer): boolean {
  return equalBytes(rakp4Icv(suite, sik, v), got);
}

/** Turn a refusal status from Open Session / RAKP 2 / RAKP 4 into the error an operator can act on. */
export function handshakeError(o: { bmc: string; step: string; status: number; user: string; suite: number; privilege: string }): IpmiError {
  switch (o.status) {
    case RMCP_STATUS.UNAUTHORIZED_NAME:
      return ipmiErrors.WRONG_USER(o.bmc, o.user);
    case RMCP_STATUS.INVALID_INTEGRITY_CHECK_VALUE:
      // Answer to our RAKP 3: the BMC computed a different auth code from its copy of the password.
      return ipmiErrors.WRONG_PASSWORD(o.bmc, o.user);
    case RMCP_STATUS.INVALID_AUTH_ALGORITHM:
    case RMCP_STATUS.INVALID_INTEGRITY_ALGORITHM:
    case RMCP_STATUS.INVALID_CONFIDENTIALITY_ALGORITHM:
    case RMCP_STATUS.NO_MATCHING_AUTH_PAYLOAD:
    case RMCP_STATUS.NO_MATCHING_INTEGRITY_PAYLOAD:
    case RMCP_STATUS.NO_CIPHER_SUITE_MATCH:
      return ipmiErrors.CIPHER_SUITE_UNSUPPORTED(o.bmc, o.suite, o.status);
    case RMCP_STATUS.INVALID_ROLE:
    case RMCP_STATUS.UNAUTHORIZED_ROLE:
      return ipmiErrors.PRIVILEGE_REFUSED(o.bmc, o.user, o.privilege, o.status);
    default:
      return ipmiErrors.RMCP_STATUS(o.bmc, o.step, o.status);
  }
}
