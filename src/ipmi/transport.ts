// The one place that owns a UDP socket. Many sessions (to one BMC or many) can share a transport;
// inbound datagrams go to the session whose console session ID they carry.
import dgram from 'node:dgram';
import { AUTH_TYPE_RMCPP, PAYLOAD } from './constants.js';
import { RMCP_HEADER_LENGTH } from './packets.js';

export interface TransportEndpoint {
  /** Our (remote console) session ID: the BMC puts it in every packet it sends to this session. */
  readonly consoleSessionId: number;
  readonly address: string;
  readonly port: number;
  receive(datagram: Buffer): void;
}

const HANDSHAKE_REPLIES = new Set<number>([PAYLOAD.OPEN_SESSION_RESPONSE, PAYLOAD.RAKP2, PAYLOAD.RAKP4]);

/** Which console session a datagram is for, when it says (0 when only the sender's address can tell). */
export function consoleSessionIdOf(datagram: Buffer): number {
  const s = RMCP_HEADER_LENGTH;
  if (datagram.length < s + 12 || datagram[s] !== AUTH_TYPE_RMCPP) return 0;
  const id = datagram.readUInt32LE(s + 2);
  if (id !== 0) return id;
  const type = datagram[s + 1]! & 0x3f;
  // Session setup replies travel with session ID 0 and name our session ID inside the payload.
  if (HANDSHAKE_REPLIES.has(type) && datagram.length >= s + 12 + 8) return datagram.readUInt32LE(s + 12 + 4);
  return 0;
}

export class IpmiTransport {
  private socket?: dgram.Socket;
  private bound?: Promise<dgram.Socket>;
  private readonly endpoints = new Map<number, TransportEndpoint>();

  /** Whether the transport should close its socket when the last session leaves (private transports). */
  constructor(private readonly opts: { closeWhenIdle?: boolean } = {}) {}

  private open(): Promise<dgram.Socket> {
    this.bound ??= new Promise((resolve, reject) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', reject);
      socket.on('message', (msg, rinfo) => this.dispatch(msg, rinfo));
      socket.bind(0, () => {
        socket.off('error', reject);
        socket.on('error', () => { /* per-request timeouts report unreachable BMCs */ });
        socket.unref();
        this.socket = socket;
        resolve(socket);
      });
    });
    return this.bound;
  }

  /** A console session ID unused on this transport (never 0). */
  allocateSessionId(): number {
    for (;;) {
      const id = (Math.random() * 0xfffffffe + 1) >>> 0;
      if (id !== 0 && !this.endpoints.has(id)) return id;
    }
  }

  async attach(endpoint: TransportEndpoint): Promise<void> {
    this.endpoints.set(endpoint.consoleSessionId, endpoint);
    await this.open();
  }

  detach(endpoint: TransportEndpoint): void {
    if (this.endpoints.get(endpoint.consoleSessionId) === endpoint) this.endpoints.delete(endpoint.consoleSessionId);
    if (this.opts.closeWhenIdle && this.endpoints.size === 0) this.close();
  }

  async send(datagram: Buffer, address: string, port: number): Promise<void> {
    const socket = await this.open();
    await new Promise<void>((resolve) => socket.send(datagram, port, address, () => resolve()));
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    this.bound = undefined;
  }

  private dispatch(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const id = consoleSessionIdOf(msg);
    if (id !== 0) {
      const ep = this.endpoints.get(id);
      if (ep && ep.address === rinfo.address && ep.port === rinfo.port) ep.receive(msg);
      return;
    }
    // Pre-session replies (IPMI 1.5 Get Channel Auth Capabilities): every session at that address
    // may look; each only accepts the rqSeq it is waiting for.
    for (const ep of this.endpoints.values()) if (ep.address === rinfo.address && ep.port === rinfo.port) ep.receive(msg);
  }
}
