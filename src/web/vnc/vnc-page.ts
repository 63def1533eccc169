// `/vnc/NAME`: the node's graphical console (noVNC), through the daemon's VNC proxy, which logs in
// to the VNC server itself: the page never sees the VNC password.
import { type Api, ApiError } from '../api.js';
import { $, esc } from '../html.js';
import type { Page } from '../main.js';
import { CLOSE_BY_SERVER } from '../terminal/console-socket.js';
import { LinkStatus } from '../terminal/link-status.js';
import { OVERLAY_HTML, SessionStatus, STATUS_LINE_HTML } from '../terminal/session-status.js';
import type { NodeView } from '../types.js';
import { VncConnection, type VncMode } from './vnc-connection.js';

export interface VncPageOptions {
  api: Api;
  name: string;
  /** The mode asked for first (`?mode=ro`: view only). */
  mode: VncMode;
  logout(): void;
}

export function showVncPage(root: HTMLElement, { api, name, mode: wantedMode, logout }: VncPageOptions): Page {
  document.title = `${name} (screen) — Switchboard`;
  const nodePath = `/nodes/${encodeURIComponent(name)}`;
  root.innerHTML = `
    <div class="terminal-page vnc-page">
      <header class="bar">
        <a class="back" href="/" hidden>← Nodes</a>
        <h1 class="node-name">${esc(name)}</h1>
        <a class="to-console" href="/console/${esc(encodeURIComponent(name))}" hidden>Console</a>
        <span class="node-facts"></span>
        <span class="mode-badge"></span>
        <span class="spacer"></span>
        <span class="link-status" hidden></span>
        <label class="spy"><input type="checkbox" class="view-only-toggle"> View only</label>
        <button type="button" class="ctrl-alt-del" title="send Ctrl-Alt-Del to the machine">Ctrl-Alt-Del</button>
        <details class="menu clipboard">
          <summary>Clipboard</summary>
          <div class="menu-body">
            <label for="vnc-clipboard">The server's clipboard; edit and send to paste there</label>
            <textarea id="vnc-clipboard" class="clipboard-text" rows="6" spellcheck="false"></textarea>
            <div class="clipboard-actions">
              <button type="button" class="clipboard-copy" title="copy to this computer's clipboard">Copy</button>
              <button type="button" class="clipboard-send" title="put this text on the server's clipboard">Send to server</button>
            </div>
          </div>
        </details>
        <button type="button" class="logout">Log out</button>
      </header>
      <div class="terminal-wrap screen-wrap"><div class="screen"></div>${OVERLAY_HTML}
      </div>
      ${STATUS_LINE_HTML}
    </div>`;

  const ui = new SessionStatus(root, () => connect());
  const modeBadge = $(root, '.mode-badge');
  const viewOnly = $<HTMLInputElement>(root, '.view-only-toggle');
  const screen = $(root, '.screen');
  const clipboardText = $<HTMLTextAreaElement>(root, '.clipboard-text');
  const clipboardMenu = $<HTMLDetailsElement>(root, '.clipboard');
  const link = new LinkStatus(api, $(root, '.link-status'));

  let connection: VncConnection | undefined;
  let mode: VncMode = wantedMode;
  let disposed = false;

  const status = (text: string, problem = false) => ui.status(text, problem);

  function showMode(text: string, cls: string): void {
    modeBadge.textContent = text;
    modeBadge.className = `mode-badge ${cls}`;
  }

  function connect(): void {
    connection?.close();
    ui.hideOverlay();
    viewOnly.checked = mode === 'ro';
    showMode('connecting', 'mode-off');
    status(`connecting to the screen of ${name}…`);
    let live = false;
    const mine = new VncConnection(screen, api.urlWithToken(`${nodePath}/vnc`, { mode }), mode, {
      connected: () => {
        live = true;
        showMode(mode === 'rw' ? 'read-write' : 'view only', `mode-${mode}`);
        status(mode === 'rw' ? 'connected' : 'connected, view only: keys and pointer are not sent');
      },
      desktopName: (desktop) => {
        $(root, '.node-facts').textContent = desktop;
      },
      clipboard: (text) => {
        clipboardText.value = text;
      },
      closed: (code, reason, opened) => {
        if (connection === mine) connection = undefined;
        void onClose(code, reason, opened, live);
      },
    });
    connection = mine;
  }

  /** `live`: the screen had been shown (else the login to the VNC server, or the upgrade, failed). */
  async function onClose(code: number, reason: string, opened: boolean, live: boolean): Promise<void> {
    if (disposed) return;
    showMode('not connected', 'mode-off');
    if (ui.tokenEnded(code, reason, link)) return;
    // The daemon says why: the VNC server refused the password, is unreachable, went away...
    const why = code === CLOSE_BY_SERVER ? reason : await diagnose(opened);
    if (disposed) return;
    status(`disconnected: ${why}`, true);
    ui.showOverlay(live ? 'Disconnected' : 'Cannot connect', why, true);
  }

  /** Why the connection was refused or dropped, asked of the API (401, 404, no VNC on the node...). */
  async function diagnose(opened: boolean): Promise<string> {
    try {
      const node = await api.request<NodeView>('GET', nodePath);
      showFacts(node);
      if (!node.vnc) return `${name} has no graphical console (VNC)`;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 0)) return err instanceof Error ? err.message : String(err);
    }
    return opened ? 'connection lost' : 'cannot reach the daemon';
  }

  function showFacts(node: NodeView): void {
    $(root, '.to-console').hidden = !node.consoleEnabled;
    if (node.vnc && !$(root, '.node-facts').textContent) $(root, '.node-facts').textContent = `${node.vnc.host}:${node.vnc.port}`;
  }

  viewOnly.addEventListener('change', () => {
    // A spy connection is a different connection (the daemon filters it): reconnect in the new mode.
    mode = viewOnly.checked ? 'ro' : 'rw';
    connect();
  });
  $(root, '.ctrl-alt-del').addEventListener('click', () => {
    if (!connection?.open) return status('not connected: Ctrl-Alt-Del not sent', true);
    if (mode === 'ro') return status('view only: Ctrl-Alt-Del not sent', true);
    connection.sendCtrlAltDel();
    status('Ctrl-Alt-Del sent');
  });
  $(root, '.clipboard-copy').addEventListener('click', () => {
    navigator.clipboard.writeText(clipboardText.value).then(
      () => status('clipboard copied to this computer'),
      () => {
        // No clipboard API (plain http to another host): leave the text selected for Ctrl-C.
        clipboardText.select();
        status('press Ctrl-C to copy the selected text', true);
      },
    );
  });
  $(root, '.clipboard-send').addEventListener('click', () => {
    if (!connection?.open) return status('not connected: clipboard not sent', true);
    if (mode === 'ro') return status('view only: clipboard not sent', true);
    connection.paste(clipboardText.value);
    clipboardMenu.open = false;
    connection.focus();
    status(`${clipboardText.value.length} characters put on the server's clipboard`);
  });
  $(root, '.logout').addEventListener('click', logout);

  connect();
  void api.request<NodeView>('GET', nodePath).then(showFacts, () => {});
  // A link's token reaches only its node: no way back to the overview.
  void link.load().then((isLink) => {
    $(root, '.back').hidden = isLink;
  });

  return {
    dispose() {
      disposed = true;
      link.dispose();
      connection?.close();
    },
  };
}
