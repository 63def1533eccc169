// Receivers of the output sinks' JSON records for tests: newline-delimited over TCP (or TLS), one
// datagram each over UDP; what they got can be waited on. Closed when the test file ends.
import dgram from 'node:dgram';
import net from 'node:net';
import { after } from 'node:test';
import tls from 'node:tls';
import { waitUntil } from './wait.js';

export type Rec = { node: string; type: 'console' | 'event'; message: string; time: string; [k: string]: unknown };

/** What a receiver got, with waiting on it. */
export class Received {
  readonly records: Rec[] = [];
  private readonly wakers = new Set<() => void>();

  add(text: string): void {
    this.records.push(JSON.parse(text) as Rec);
    for (const w of this.wakers) w();
  }

  lines(node: string): string[] {
    return this.records.filter((r) => r.node === node && r.type === 'console').map((r) => r.message);
  }

  waitFor(pred: (r: Rec) => boolean, what: string): Promise<Rec> {
    return waitUntil(() => this.records.find(pred), {
      what,
      subscribe: (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
      describe: () => JSON.stringify(this.records.slice(-8)),
    });
  }
}

const servers: { close(): void }[] = [];

/** Closed when the test file ends, with the receivers. */
export function closeAtEnd(server: { close(): void }): void {
  servers.push(server);
}
after(() => {
  for (const s of servers) s.close();
});

/** A newline-delimited JSON receiver (logstash's tcp input with json_lines), over TLS with `secure`. */
export async function tcpReceiver(secure?: { cert: string; key: string }, port = 0): Promise<{ port: number; got: Received }> {
  const got = new Received();
  const onSocket = (socket: net.Socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        got.add(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    socket.on('error', () => {});
  };
  const server = secure ? tls.createServer(secure, onSocket) : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push({ close: () => server.close() });
  return { port: (server.address() as net.AddressInfo).port, got };
}

export async function udpReceiver(): Promise<{ port: number; got: Received }> {
  const got = new Received();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg) => got.add(msg.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  servers.push({ close: () => socket.close() });
  return { port: socket.address().port, got };
}
