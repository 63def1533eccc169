// Loopback ports for peers that cannot listen on port 0 themselves. No node:test import here:
// the benchmarks use it too.
import dgram from 'node:dgram';
import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now (also: a port nobody listens on, for refused-connection tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A UDP port free on 127.0.0.1 right now (also: a port where nothing answers). */
export function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `count` consecutive TCP ports free on 127.0.0.1 right now; returns the first. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65535) continue;
    const rest = Array.from({ length: count - 1 }, (_, i) => first + 1 + i);
    if ((await Promise.all(rest.map(isFree))).every(Boolean)) return first;
  }
  throw new Error(`no run of ${count} free ports found on 127.0.0.1`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
