// Reaching a console over TCP, shared by the tcp, telnet and ssh drivers: connect with a
// deadline, and say why a connection failed or ended in words an operator can act on.
import net from 'node:net';
import { Type } from '@sinclair/typebox';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The reason a connection ends when the other side hangs up cleanly (TCP FIN). */
export const CLOSED_BY_PEER = 'closed by peer';

/** Params schemas every network driver declares the same way. */
export const hostParam = Type.String({ minLength: 1, maxLength: 255, description: 'host name or IP address' });
export function portParam(defaultPort?: number) {
  return Type.Integer({ minimum: 1, maximum: 65535, ...(defaultPort ? { default: defaultPort } : {}) });
}
export const connectTimeoutParam = Type.Integer({
  minimum: 1,
  maximum: 600_000,
  default: DEFAULT_CONNECT_TIMEOUT_MS,
  description: 'give up connecting (DNS included) after this many milliseconds',
});

/** `host:port`, with brackets around an IPv6 address. */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Connect to host:port. Rejects with an Error whose message is the reason to show the operator
 * ("connection refused by h:p", "timed out after 10s connecting to h:p", "cannot resolve h (DNS)").
 * Aborting `signal` (the driver was closed while connecting) rejects with "connect cancelled".
 */
export function connectTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('connect cancelled'));
    const socket = net.connect({ host, port });
    const fail = (reason: string) => {
      cleanup();
      socket.destroy();
      reject(new Error(reason));
    };
    const onError = (err: Error) => fail(describeSocketError(err, host, port));
    const onAbort = () => fail('connect cancelled');
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const timer = setTimeout(() => fail(`timed out after ${seconds(timeoutMs)} connecting to ${hostPort(host, port)}`), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    socket.once('connect', onConnect);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A socket error (while connecting or later) as the reason to show the operator. */
export function describeSocketError(err: Error, host: string, port: number): string {
  const e = err as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
  // With several addresses tried (happy eyeballs), Node reports an AggregateError.
  const code = e.code ?? e.errors?.[0]?.code;
  const where = hostPort(host, port);
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
    case 'EAI_FAIL':
      return `cannot resolve ${host} (DNS)`;
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset by peer';
    case 'ETIMEDOUT':
      return `connection to ${where} timed out`;
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return `host unreachable: ${where}`;
    case 'ENETUNREACH':
      return `network unreachable: ${where}`;
    default:
      return `${where}: ${err.message}`;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 10) / 100}s`;
}
