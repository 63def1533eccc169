// The console WebSocket (GET /api/v1/nodes/:name/console): binary frames are console bytes both
// ways, text frames JSON control messages (see src/api/console-ws.ts).

export type ConsoleMode = 'rw' | 'ro';

export type ServerMessage =
  | { type: 'attached'; node: string; mode: ConsoleMode; clientId: string }
  | { type: 'notice'; message: string }
  | { type: 'mode'; mode: ConsoleMode }
  | { type: 'error'; error: string; message: string };

export interface SocketListener {
  open(): void;
  data(bytes: Uint8Array): void;
  message(msg: ServerMessage): void;
  /** `opened` false: the daemon refused the upgrade (a browser is not told why). */
  close(code: number, reason: string, opened: boolean): void;
}

/** Close codes the daemon uses: 1000 the user detached, 4000 Switchboard closed it and says why. */
export const CLOSE_DETACHED = 1000;
export const CLOSE_BY_SERVER = 4000;
/** Reasons for a 4000 close that another attempt cannot mend; any other (daemon stopping, too slow) is retried. */
export const FINAL_CLOSE_REASONS = ['token expired', 'token revoked', 'node deleted'];

const encoder = new TextEncoder();

export class ConsoleSocket {
  private readonly ws: WebSocket;

  constructor(url: string, listener: SocketListener) {
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      listener.open();
    });
    ws.addEventListener('message', (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data !== 'string') return listener.data(new Uint8Array(e.data));
      try {
        listener.message(JSON.parse(e.data) as ServerMessage);
      } catch { /* not ours to show */ }
    });
    ws.addEventListener('close', (e) => listener.close(e.code, e.reason, opened));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Text is sent as UTF-8 bytes, as a terminal would. */
  send(input: string | Uint8Array): void {
    if (this.open) this.ws.send(typeof input === 'string' ? encoder.encode(input) : input);
  }

  resize(cols: number, rows: number): void {
    if (this.open) this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  close(): void {
    this.ws.close(CLOSE_DETACHED, 'page closed');
  }
}
