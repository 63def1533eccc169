// The admin token: given by the operator, or generated once and kept in the data dir (mode 0600).
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

/** 128 random bits as 32 hex characters. */
export function generateToken(): string {
  return randomBytes(16).toString('hex');
}

export async function ensureAdminToken(dataDir: string, given?: string): Promise<{ token: string; created: boolean; file: string }> {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  if (given) return { token: given, created: false, file };
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token) return { token, created: false, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = generateToken();
  // 'wx': never overwrite a token another process just wrote.
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, created: true, file };
}
