// `telnet`: a console behind a telnet server — ser2net, terminal servers, switch and PDU consoles.
// The protocol lives in telnet-protocol.ts; this file only puts it on a TCP connection.
import { Type, type Static } from '@sinclair/typebox';
import { connectTimeoutParam, hostParam, portParam } from './net.js';
import { TcpConsole } from './tcp.js';
import { BRK, command, TelnetClientProtocol } from './telnet-protocol.js';
import type { ConsoleDriverDefinition, DriverContext } from './types.js';

const DEFAULT_TERM = 'xterm-256color';

const TelnetParams = Type.Object(
  {
    host: hostParam,
    port: Type.Optional(portParam(23)),
    connectTimeoutMs: Type.Optional(connectTimeoutParam),
    term: Type.Optional(Type.String({ minLength: 1, maxLength: 40, pattern: '^[!-~]+$', default: DEFAULT_TERM, description: 'terminal type sent when the server asks (TTYPE)' })),
  },
  { additionalProperties: false },
);
type TelnetParams = Static<typeof TelnetParams>;

const BREAK = command(BRK);

class TelnetConsole extends TcpConsole {
  private readonly protocol: TelnetClientProtocol;

  constructor(params: TelnetParams, ctx: DriverContext) {
    super({ host: params.host, port: params.port ?? 23, connectTimeoutMs: params.connectTimeoutMs });
    this.protocol = new TelnetClientProtocol({ term: params.term ?? DEFAULT_TERM, cols: ctx.cols, rows: ctx.rows });
  }

  protected override received(chunk: Buffer): void {
    const { data, reply } = this.protocol.receive(chunk);
    this.send(reply);
    if (data.length > 0) this.emit('data', data);
  }

  override write(data: Buffer): void {
    this.send(this.protocol.encode(data));
  }

  resize(cols: number, rows: number): void {
    const naws = this.protocol.resize(cols, rows);
    if (naws) this.send(naws);
  }

  async sendBreak(): Promise<void> {
    this.send(BREAK);
  }

  override info(): Record<string, unknown> {
    const base = super.info();
    return Object.keys(base).length > 0 ? { ...base, telnetOptions: this.protocol.options() } : base;
  }
}

export const telnetDriver: ConsoleDriverDefinition<TelnetParams> = {
  name: 'telnet',
  description: 'a telnet server (ser2net telnet mode, terminal servers)',
  paramsSchema: TelnetParams,
  secretParams: [],
  create: (params, ctx) => new TelnetConsole(params, ctx),
};
