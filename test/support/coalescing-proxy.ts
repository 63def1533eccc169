// A TCP proxy on 127.0.0.1 that holds what the server sends and passes it on in one write every
// `windowMs`, as a busy machine or a slow link does: messages the server sent apart reach the client
// in one read. What the client sends goes through at once.
import net from 'node:net';

export interface CoalescingProxy {
  /** Where the client connects in place of the server. */
  host: string;
  port: number;
  /** Ends every connection through it and stops listening. */
  close(): void;
}

export async function coalescingProxy(upstream: { host: string; port: number }, windowMs: number): Promise<CoalescingProxy> {
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((client) => {
    const upstreamSocket = net.connect(upstream);
    sockets.add(client).add(upstreamSocket);
    let held: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const pass = () => {
      timer = undefined;
      if (!client.destroyed) client.write(Buffer.concat(held));
      held = [];
    };
    upstreamSocket.on('data', (chunk: Buffer) => {
      held.push(chunk);
      timer ??= setTimeout(pass, windowMs);
    });
    client.pipe(upstreamSocket);
    const close = () => {
      clearTimeout(timer);
      client.destroy();
      upstreamSocket.destroy();
    };
    for (const s of [client, upstreamSocket]) s.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: (listener.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      listener.close();
    },
  };
}
