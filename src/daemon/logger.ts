// The version and the logger, in a module of their own: `switchboard agent` and the client verbs
// need them without loading the daemon (fastify, SQLite, ssh2, ...), which would make every process
// bigger, slower to start, and the agent's every fork of a command dearer (fork copies the page tables).
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** text on a terminal (a person reads it), JSON lines otherwise (journald, a log shipper, scripts). */
function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY ? 'text' : 'json';
}

export function createLogger(level: string, format: LogFormat = defaultLogFormat()): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    // Belt and braces: nothing that looks like a secret is ever printed (in either format: pino
    // redacts before the text is made).
    redact: { paths: ['token', '*.token', 'password', '*.password', '*.params.password', 'headers.authorization', 'req.headers.authorization', 'headers["x-auth-token"]', 'req.headers["x-auth-token"]'], censor: '[redacted]' },
  };
  if (format === 'json') return pino(options);
  // Loaded only for text: an agent logging JSON stays small (it forks every command it runs).
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pino(options, pretty({
    sync: true, // lines are written as they are logged, as pino's own JSON is, so none is lost on exit
    colorize: !!process.stdout.isTTY && !process.env.NO_COLOR,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  }));
}
