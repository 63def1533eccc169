// The proxy's connection to a node's VNC server: TCP, then the RFB login with the stored password.
import net from 'node:net';
import type { VncSpec } from '../model/node.js';
import { ByteReader } from './byte-reader.js';
import { VncError, vncErrors } from './errors.js';
import { loginToServer } from './handshake.js';

export interface ConnectOptions {
  /** For the TCP connect and the login together. */
  timeoutMs: number;
  /** The browser went away: stop connecting. */
  signal?: AbortSignal;
}

export interface VncServerConnection {
  /**
   * Logged in, ready for ClientInit; paused, with no 'data' or 'error' listener: the caller adds
   * both at once and resumes it.
   */
  socket: net.Socket;
  /** Bytes the server sent beyond the login (normally none: it waits for ClientInit). */
  rest: Buffer;
}

/** host:port as errors and logs show it ([v6]:port). */
export function serverLabel(target: Pick<VncSpec, 'host' | 'port'>): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

export async function connectVncServer(target: VncSpec, opts: ConnectOptions): Promise<VncServerConnection> {
  const server = serverLabel(target);
  const reader = new ByteReader();
  const socket = net.connect({ host: target.host, port: target.port });
  socket.setNoDelay(true); // pointer moves and small updates should not wait for Nagle
  let connected = false;
  const onData = (data: Buffer) => reader.push(data);
  const onError = (err: NodeJS.ErrnoException) => {
    reader.end(connected ? vncErrors.CLOSED(server, err.code ?? err.message) : vncErrors.UNREACHABLE(server, err.code ?? err.message));
  };
  const onClose = () => reader.end(vncErrors.CLOSED(server, 'during login'));
  const onAbort = () => reader.end(new VncError('VNC_ABORTED', 'the client went away'));
  socket.once('connect', () => (connected = true));
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => reader.end(vncErrors.TIMEOUT(server, connected ? 'login' : 'connect')), opts.timeoutMs);
  if (opts.signal?.aborted) onAbort();
  try {
    await loginToServer({ read: (n) => reader.read(n), write: (b) => void socket.write(b) }, server, target.password);
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onClose);
  }
  socket.pause();
  return { socket, rest: reader.rest() };
}
