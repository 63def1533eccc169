// The fleet signing keys: ed25519 from node:crypto. The daemon keeps its private key in the data
// dir; agents hold only public keys, given either in the printable form
// `sb-ed25519:<base64url of the raw 32-byte key>` (what `switchboard fleet signer` prints) or as a
// file: a PEM public key, or lines in the printable form ('#' starts a comment).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../errors.js';

export const SIGNER_KEY_FILE = 'fleet-signer.pem';
export const PUBLIC_KEY_PREFIX = 'sb-ed25519:';

export interface Signer {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateSigner(): Signer {
  return generateKeyPairSync('ed25519');
}

/** The raw 32 bytes of an ed25519 public key (the JWK `x` member is exactly that, base64url). */
function rawPublicKeyBase64url(key: KeyObject): string {
  const x = key.export({ format: 'jwk' }).x;
  if (key.asymmetricKeyType !== 'ed25519' || typeof x !== 'string') throw new TypeError('not an ed25519 key');
  return x;
}

export function formatPublicKey(key: KeyObject): string {
  return `${PUBLIC_KEY_PREFIX}${rawPublicKeyBase64url(key)}`;
}

/** 32 bytes are 43 base64url characters without padding. */
const RAW_KEY_BASE64URL = /^[A-Za-z0-9_-]{43}$/;

export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PUBLIC_KEY_PREFIX)) throw errors.BAD_ALLOWED_SIGNER(text, `expected ${PUBLIC_KEY_PREFIX}<base64url key>`);
  const x = trimmed.slice(PUBLIC_KEY_PREFIX.length);
  if (!RAW_KEY_BASE64URL.test(x)) throw errors.BAD_ALLOWED_SIGNER(text, 'the key is not 32 bytes of base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

// A key id is a hint in each envelope so an agent with several allowed keys tries the right one;
// it is covered by the signature, and 64 bits are plenty to tell a handful of keys apart.
const keyIds = new WeakMap<KeyObject, string>();

export function keyId(publicKey: KeyObject): string {
  let kid = keyIds.get(publicKey);
  if (!kid) {
    const raw = Buffer.from(rawPublicKeyBase64url(publicKey), 'base64url');
    kid = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    keyIds.set(publicKey, kid);
  }
  return kid;
}

/**
 * The daemon's signer, from `<dataDir>/fleet-signer.pem`, created (mode 0600) on first use.
 * A key file that group or others may read is refused: whoever reads it can command the fleet.
 */
export async function loadOrCreateSigner(dataDir: string): Promise<Signer & { file: string; created: boolean }> {
  const file = path.join(dataDir, SIGNER_KEY_FILE);
  const existing = await readPrivateKeyFile(file);
  if (existing) return { ...existing, file, created: false };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const signer = generateSigner();
  if (await createOnce(file, signer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)) {
    return { ...signer, file, created: true };
  }
  // Another process created the key between our read and our create: use theirs.
  const theirs = await readPrivateKeyFile(file);
  if (!theirs) throw errors.SIGNER_KEY_FILE(file, 'vanished while it was being created');
  return { ...theirs, file, created: false };
}

async function readPrivateKeyFile(file: string): Promise<Signer | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.SIGNER_KEY_FILE(file, (err as Error).message);
  }
  try {
    // Check the mode of the file we opened, not of the name, so a swap between the two can't fool us.
    const mode = (await handle.stat()).mode & 0o777;
    if (mode & 0o077) {
      throw errors.SIGNER_KEY_FILE(file, `has mode 0${mode.toString(8)} but holds a private key: run chmod 600 ${file}`);
    }
    const privateKey = parsePrivateKey(file, await handle.readFile('utf8'));
    return { privateKey, publicKey: createPublicKey(privateKey) };
  } finally {
    await handle.close();
  }
}

function parsePrivateKey(file: string, pem: string): KeyObject {
  return ed25519FromPem(pem, createPrivateKey, 'private', (why) => errors.SIGNER_KEY_FILE(file, why));
}

/** An ed25519 key read from PEM by `make`, or `fail` saying why it is not one. */
function ed25519FromPem(pem: string, make: (pem: string) => KeyObject, kind: 'private' | 'public', fail: (why: string) => Error): KeyObject {
  let key: KeyObject;
  try {
    key = make(pem);
  } catch {
    throw fail(`is not a PEM ${kind} key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw fail(`is a ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/**
 * Creates `file` with `content` unless it exists; false if it did. The content goes to a private
 * temporary file first and is then hard-linked into place, so no reader ever sees a half-written
 * key and two processes starting at once never overwrite each other (link fails with EEXIST).
 */
async function createOnce(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw errors.SIGNER_KEY_FILE(file, (err as Error).message);
  } finally {
    await unlink(temp);
  }
}

/**
 * The agent's allow-list from its `--allow-signer` values: each one a printable key or a file
 * (PEM public key, or printable keys one per line). A private key is refused: it must never be
 * copied to the machines it commands.
 */
export async function loadAllowedSigners(values: string[]): Promise<KeyObject[]> {
  const lists = await Promise.all(values.map(loadAllowedSigner));
  return lists.flat();
}

async function loadAllowedSigner(value: string): Promise<KeyObject[]> {
  if (value.trim().startsWith(PUBLIC_KEY_PREFIX)) return [parsePublicKey(value)];
  let text: string;
  try {
    text = await readFile(value, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `neither a ${PUBLIC_KEY_PREFIX} key nor an existing file` : (err as Error).message;
    throw errors.BAD_ALLOWED_SIGNER(value, why);
  }
  if (text.includes('-----BEGIN')) return [parsePemPublicKey(value, text)];
  const keys = parseKeyLines(text);
  if (keys.length === 0) throw errors.BAD_ALLOWED_SIGNER(value, 'the file holds no keys');
  return keys;
}

function parsePemPublicKey(file: string, pem: string): KeyObject {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw errors.BAD_ALLOWED_SIGNER(file, 'is a private key: give the agent the public key (switchboard fleet signer)');
  }
  return ed25519FromPem(pem, createPublicKey, 'public', (why) => errors.BAD_ALLOWED_SIGNER(file, why));
}

function parseKeyLines(text: string): KeyObject[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map(parsePublicKey);
}
