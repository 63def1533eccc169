// A local HTTP server for the agents' httpGet to fetch from (the tests have no internet).
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on a free loopback port; `base` is its http://127.0.0.1:PORT. Close it in an `after`. */
export function startHttpServer(handler: RequestListener): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}
