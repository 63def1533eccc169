// A real VNC server for tests: TigerVNC's Xvnc on a display it picks itself (-displayfd), its
// root window painted with xsetroot, and the X pointer read back over the X11 protocol (so a test
// can tell whether a VNC client's PointerEvent reached the server; see x11.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { desEncryptBlock } from '../../src/vnc/des.js';
import { tempDir } from './daemon.js';
import { freePort } from './ports.js';
import { exited, spawnTracked } from './processes.js';
import { X11Client } from './x11.js';
import type { ChildProcess } from 'node:child_process';

export interface Xvnc {
  proc: ChildProcess;
  /** X display number (":N"). */
  display: number;
  /** RFB port on 127.0.0.1. */
  port: number;
}

/**
 * vncpasswd's file format: the password (8 bytes, zero padded) DES-encrypted under a key fixed
 * in every VNC implementation, bit-reversed as VNC keys are. Written here so the tests need no
 * vncpasswd; the unit tests check the same bytes against `tigervncpasswd -f`.
 */
export function obfuscateVncPassword(password: string): Buffer {
  const FIXED_KEY = [23, 82, 107, 6, 35, 78, 88, 7];
  const reverse = (b: number) => [...Array(8).keys()].reduce((out, i) => out | (((b >> i) & 1) << (7 - i)), 0);
  const block = Buffer.alloc(8);
  Buffer.from(password, 'utf8').copy(block, 0, 0, 8);
  return desEncryptBlock(Buffer.from(FIXED_KEY.map(reverse)), block);
}

/** Start Xvnc with VNC authentication (or none) and paint its screen `colour`. */
export async function startXvnc(opts: { password?: string; colour?: string; geometry?: string } = {}): Promise<Xvnc> {
  const port = await freePort();
  const security = opts.password === undefined ? ['-SecurityTypes', 'None'] : ['-SecurityTypes', 'VncAuth', '-PasswordFile', await passwordFile(opts.password)];
  // -displayfd: Xvnc picks a free display and writes its number once it accepts X clients.
  const proc = spawnTracked('Xvnc', [
    '-displayfd', '3', '-rfbport', String(port), '-localhost', '-interface', '127.0.0.1', '-geometry', opts.geometry ?? '64x48', '-depth', '24',
    '-BlacklistThreshold', '1000', ...security,
  ], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let displayText = '';
  const display = await new Promise<number>((resolve, reject) => {
    proc.stdio[3]!.on('data', (d: Buffer) => {
      displayText += d.toString();
      if (displayText.includes('\n')) resolve(Number(displayText.trim()));
    });
    void exited(proc).then((s) => reject(new Error(`Xvnc exited (${JSON.stringify(s)}): ${output.slice(-500)}`)));
  });
  const xvnc = { proc, display, port };
  if (opts.colour) await xsetroot(xvnc, opts.colour);
  return xvnc;
}

async function passwordFile(password: string): Promise<string> {
  const file = path.join(tempDir('xvnc'), 'passwd');
  await writeFile(file, obfuscateVncPassword(password), { mode: 0o600 });
  return file;
}

export async function xsetroot(x: Xvnc, colour: string): Promise<void> {
  const p = spawnTracked('xsetroot', ['-solid', colour], { env: { ...process.env, DISPLAY: `:${x.display}` } });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const status = await exited(p);
  if (status.code !== 0) throw new Error(`xsetroot failed (${JSON.stringify(status)}): ${err}`);
}

/** Where the X server's pointer is: X11 QueryPointer on the root window, over the display's unix socket. */
export async function pointerPosition(x: Xvnc): Promise<{ x: number; y: number }> {
  const client = await X11Client.connect(x.display);
  try {
    return await client.pointer();
  } finally {
    client.close();
  }
}
