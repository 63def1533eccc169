// One noVNC session over the daemon's VNC WebSocket (GET /api/v1/nodes/:name/vnc). The page opens
// the WebSocket itself and hands it to RFB: noVNC does not pass on a close's code and reason, and
// the daemon's reason (a wrong VNC password, an unreachable server, a revoked token) is what the
// user needs to see.
import RFB from '@novnc/novnc';

export type VncMode = 'rw' | 'ro';

export interface VncListener {
  /** The RFB handshake is done: the screen is live. */
  connected(): void;
  desktopName(name: string): void;
  /** Text the VNC server put on its clipboard. */
  clipboard(text: string): void;
  /** `opened` false: the daemon refused the upgrade (a browser is not told why). */
  closed(code: number, reason: string, opened: boolean): void;
}

export class VncConnection {
  private readonly ws: WebSocket;
  private readonly rfb: RFB;
  private ended = false;

  constructor(target: HTMLElement, url: string, readonly mode: VncMode, listener: VncListener) {
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    this.ws = ws;
    let opened = false;
    // Registered before RFB sets its own handlers, so this runs first.
    ws.addEventListener('open', () => {
      opened = true;
    });
    ws.addEventListener('close', (e) => {
      if (this.ended) return;
      this.ended = true;
      listener.closed(e.code, e.reason, opened);
    });
    const rfb = new RFB(target, ws, { shared: true });
    this.rfb = rfb;
    // The daemon drops a spy's input whatever happens; this keeps noVNC from sending any.
    rfb.viewOnly = mode === 'ro';
    rfb.scaleViewport = true;
    rfb.background = 'transparent';
    rfb.addEventListener('connect', () => listener.connected());
    rfb.addEventListener('desktopname', (e) => listener.desktopName(e.detail.name));
    rfb.addEventListener('clipboard', (e) => listener.clipboard(e.detail.text));
  }

  get open(): boolean {
    return !this.ended && this.ws.readyState === WebSocket.OPEN;
  }

  sendCtrlAltDel(): void {
    this.rfb.sendCtrlAltDel();
    this.rfb.focus();
  }

  /** Put `text` on the VNC server's clipboard (a spy's is dropped by noVNC and the daemon alike). */
  paste(text: string): void {
    this.rfb.clipboardPasteFrom(text);
  }

  focus(): void {
    this.rfb.focus();
  }

  /** Close without telling the listener: the page is going, or reconnecting in another mode. */
  close(): void {
    this.ended = true;
    this.rfb.disconnect();
  }
}
