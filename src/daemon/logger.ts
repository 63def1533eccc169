// The version and the logger, in a module of their own: `switchboard agent` and the client verbs
// need them without loading the daemon (fastify, SQLite, ssh2, ...), which would make every process
// bigger, slower to start, and the agent's every fork of a command dearer (fork copies the page tables).
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    // Belt and braces: nothing that looks like a secret is ever printed.
    redact: { paths: ['token', '*.token', 'password', '*.password', '*.params.password', 'headers.authorization', 'req.headers.authorization', 'headers["x-auth-token"]', 'req.headers["x-auth-token"]'], censor: '[redacted]' },
  });
}
