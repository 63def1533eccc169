// Reference for the echo bench, not a server: the least a Node.js console relay can do. It runs a
// program under node-pty (as Switchboard's `cmd` driver does) and copies bytes between it and one
// TCP client, with nothing else (no log, no ring buffer, no escape parsing). The gap between this and
// the bare pty is Node + node-pty; the gap between this and Switchboard is Switchboard's own path.
//   node --import tsx bench/relay.ts PROGRAM [ARGS...]    → prints the port, then serves one client
import net from 'node:net';
import * as pty from 'node-pty';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: relay.ts PROGRAM [ARGS...]\n');
  process.exit(2);
}
const term = pty.spawn(file, args, { name: 'xterm-256color', cols: 80, rows: 24, encoding: null });
let client: net.Socket | undefined;
term.onData((d) => client?.write(d as unknown as Buffer));
term.onExit(() => process.exit(0));
const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  client = sock;
  sock.on('data', (d: Buffer) => term.write(d));
  sock.on('error', () => sock.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`));
const quit = () => {
  try {
    process.kill(term.pid, 'SIGKILL');
  } catch {
    // gone
  }
  process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
