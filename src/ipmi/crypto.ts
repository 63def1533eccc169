// RMCP+ keys and packet protection (IPMI v2.0 sections 13.28-13.32) for cipher suites 3 and 17.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CipherSuite } from './constants.js';
import { ipmiErrors } from './errors.js';

export function hmac(hash: CipherSuite['hash'], key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Kuid: the user's password as a key (section 13.31), zero padded to 20 bytes. HMAC pads keys to
 * the block size with zeros anyway, so the padding changes nothing for SHA-1 or SHA-256.
 */
export function userKey(password: string | Buffer): Buffer {
  const raw = Buffer.isBuffer(password) ? password : Buffer.from(password, 'utf8');
  if (raw.length > 20) throw ipmiErrors.BAD_ARGUMENT('an IPMI v2.0 password is at most 20 bytes');
  const key = Buffer.alloc(20);
  raw.copy(key);
  return key;
}

/** Const 1 and Const 2 (section 13.32): 20 bytes of 0x01 / 0x02, for both SHA-1 and SHA-256 suites. */
const CONST1 = Buffer.alloc(20, 0x01);
const CONST2 = Buffer.alloc(20, 0x02);

export interface SessionKeys {
  sik: Buffer;
  /** Integrity key (AuthCode of every packet). */
  k1: Buffer;
  /** Confidentiality key: AES-CBC-128 uses its first 16 bytes. */
  k2: Buffer;
}

export interface SikInputs {
  /** Remote console random number (RAKP 1). */
  rm: Buffer;
  /** Managed system random number (RAKP 2). */
  rc: Buffer;
  /** The whole requested-role byte sent in RAKP 1 (privilege | lookup bit). */
  role: number;
  user: Buffer;
}

/** SIK = HMAC_Kg(Rm | Rc | RoleM | ULengthM | UNameM), with Kg = Kuid when the BMC has no BMC key. */
export function deriveKeys(suite: CipherSuite, kg: Buffer, inp: SikInputs): SessionKeys {
  const sik = hmac(suite.hash, kg, inp.rm, inp.rc, Buffer.from([inp.role, inp.user.length]), inp.user);
  return { sik, k1: hmac(suite.hash, sik, CONST1), k2: hmac(suite.hash, sik, CONST2) };
}

/** A packet's AuthCode: HMAC_K1 over Auth Type .. Next Header, truncated (-96 / -128). */
export function integrityCode(suite: CipherSuite, k1: Buffer, signed: Buffer): Buffer {
  return hmac(suite.hash, k1, signed).subarray(0, suite.integrityLength);
}

/**
 * AES-CBC-128 payload (section 13.29): a random 16-byte IV, then the ciphertext of
 * data | pad 01 02 .. N | N, padded so the plaintext is a multiple of 16 bytes.
 */
export function encryptPayload(k2: Buffer, data: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  const padLength = (16 - ((data.length + 1) % 16)) % 16;
  const pad = Buffer.alloc(padLength + 1);
  for (let i = 0; i < padLength; i++) pad[i] = i + 1;
  pad[padLength] = padLength;
  const cipher = createCipheriv('aes-128-cbc', k2.subarray(0, 16), iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([data, pad])), cipher.final()]);
}

export function decryptPayload(k2: Buffer, payload: Buffer): Buffer {
  if (payload.length < 32 || payload.length % 16 !== 0) throw ipmiErrors.MALFORMED(`encrypted payload (${payload.length} bytes)`);
  const decipher = createDecipheriv('aes-128-cbc', k2.subarray(0, 16), payload.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
  const padLength = plain[plain.length - 1]!;
  if (padLength > 15) throw ipmiErrors.MALFORMED('confidentiality trailer');
  return plain.subarray(0, plain.length - 1 - padLength);
}
