// `/console/NAME`: the node's console in xterm.js, shared with every other client of its session.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { type Api, ApiError } from '../api.js';
import { $, esc } from '../html.js';
import type { Page } from '../main.js';
import type { NodeView } from '../types.js';
import { clipboardKeys, copySelection, pasteInto } from './clipboard.js';
import { CLOSE_BY_SERVER, CLOSE_DETACHED, type ConsoleMode, ConsoleSocket, FINAL_CLOSE_REASONS, type ServerMessage } from './console-socket.js';
import { LinkStatus } from './link-status.js';
import { OVERLAY_HTML, SessionStatus, STATUS_LINE_HTML } from './session-status.js';
import { BREAK_FAILED, BREAK_SENT, ESCAPE, SPECIAL_KEYS, SYSRQ_LETTERS, SYSRQ_WINDOW_MS } from './special-keys.js';

export interface TerminalOptions {
  api: Api;
  name: string;
  /** The mode asked for first (a read-only link says `?mode=ro`). */
  mode: ConsoleMode;
  logout(): void;
}

declare global {
  interface Window {
    /** The page's terminal, for tests to read the screen (`__sbTerm.buffer.active`). */
    __sbTerm?: Terminal;
  }
}

/** Reconnect after a dropped connection (not after a close the daemon explained). */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15_000;

export function showTerminal(root: HTMLElement, { api, name, mode: wantedMode, logout }: TerminalOptions): Page {
  document.title = `${name} — Switchboard`;
  root.innerHTML = `
    <div class="terminal-page">
      <header class="bar">
        <a class="back" href="/" hidden>← Nodes</a>
        <h1 class="node-name">${esc(name)}</h1>
        <a class="to-screen" href="/vnc/${esc(encodeURIComponent(name))}" hidden title="graphical console (VNC)">Screen</a>
        <span class="node-facts"></span>
        <span class="mode-badge"></span>
        <span class="spacer"></span>
        <span class="link-status" hidden></span>
        <label class="spy"><input type="checkbox" class="spy-toggle"> Read-only (spy)</label>
        <button type="button" class="who" title="who else is attached">Who</button>
        <details class="menu special-keys">
          <summary>Special keys</summary>
          <div class="menu-body">
            ${SPECIAL_KEYS.map((k, i) => `<button type="button" data-key="${i}" title="${esc(k.title)}">${esc(k.label)}</button>`).join('')}
            <div class="sysrq">
              <label>SysRq <select class="sysrq-letter">
                ${SYSRQ_LETTERS.map(([l, what]) => `<option value="${l}">${l} — ${esc(what)}</option>`).join('')}
              </select></label>
              <button type="button" class="sysrq-send" title="BREAK, then the letter">Send</button>
            </div>
            <button type="button" disabled title="on the Screen page (VNC) only; a serial console has no such key">Ctrl-Alt-Del</button>
          </div>
        </details>
        <button type="button" class="copy" title="copy the selection (Ctrl-Shift-C)">Copy</button>
        <button type="button" class="paste" title="paste (Ctrl-Shift-V)">Paste</button>
        <button type="button" class="download-log" title="the node's console log">Log</button>
        <button type="button" class="logout">Log out</button>
      </header>
      <div class="terminal-wrap"><div class="terminal"></div>${OVERLAY_HTML}
      </div>
      ${STATUS_LINE_HTML}
    </div>`;

  const ui = new SessionStatus(root, () => connect());
  const modeBadge = $(root, '.mode-badge');
  const spyToggle = $<HTMLInputElement>(root, '.spy-toggle');
  const menu = $<HTMLDetailsElement>(root, '.special-keys');
  const link = new LinkStatus(api, $(root, '.link-status'));

  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace',
    fontSize: 14,
    scrollback: 10_000,
    theme: { background: '#101418', foreground: '#d8dee4' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open($(root, '.terminal'));
  fit.fit();
  window.__sbTerm = term;

  let socket: ConsoleSocket | undefined;
  let mode: ConsoleMode = wantedMode;
  let retryMs = RETRY_MIN_MS;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  /** Waiting for the daemon to confirm a BREAK before sending the SysRq letter. */
  let pendingSysrq: { letter: string; timer: ReturnType<typeof setTimeout> } | undefined;

  const status = (text: string, problem = false) => ui.status(text, problem);
  const send = (bytes: string) => {
    if (!socket?.open) return status('not connected: nothing sent', true);
    socket.send(bytes);
  };

  /** Notices go to the status line and, dimmed, into the terminal where they happened (on a line of their own). */
  function notice(message: string): void {
    status(message.replace(/\r?\n/g, ' · '));
    const body = `\x1b[2m[${message.replace(/\r?\n/g, '\r\n')}]\x1b[22m\r\n`;
    // The check waits for earlier output to be parsed, so the cursor column is current.
    term.write('', () => term.write(term.buffer.active.cursorX > 0 ? `\r\n${body}` : body));
  }

  function showMode(m: ConsoleMode): void {
    mode = m;
    modeBadge.textContent = m === 'rw' ? 'read-write' : 'read-only';
    modeBadge.className = `mode-badge mode-${m}`;
    spyToggle.checked = m === 'ro';
  }

  function onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'attached':
        showMode(msg.mode);
        retryMs = RETRY_MIN_MS;
        return;
      case 'mode':
        return showMode(msg.mode);
      case 'error':
        return status(`${msg.error}: ${msg.message}`, true);
      case 'notice':
        if (/^token expires in/.test(msg.message) && link.isLink) {
          status(msg.message);
          void link.renewOnWarning();
          return;
        }
        if (pendingSysrq && BREAK_SENT.test(msg.message)) {
          clearTimeout(pendingSysrq.timer);
          socket?.send(pendingSysrq.letter);
          notice(`${msg.message}; SysRq ${pendingSysrq.letter} sent`);
          pendingSysrq = undefined;
          return;
        }
        if (pendingSysrq && BREAK_FAILED.test(msg.message)) {
          clearTimeout(pendingSysrq.timer);
          pendingSysrq = undefined;
        }
        return notice(msg.message);
    }
  }

  async function onClose(code: number, reason: string, opened: boolean): Promise<void> {
    socket = undefined;
    if (disposed) return;
    modeBadge.textContent = 'not attached';
    modeBadge.className = 'mode-badge mode-off';
    if (ui.tokenEnded(code, reason, link)) return;
    if (code === CLOSE_BY_SERVER && FINAL_CLOSE_REASONS.includes(reason)) {
      status(`disconnected: ${reason}`, true);
      return ui.showOverlay('Disconnected', reason, false);
    }
    // The user detached (Ctrl-E c .): they reconnect when they want to.
    if (code === CLOSE_DETACHED) {
      status(`disconnected: ${reason || code}`, true);
      return ui.showOverlay('Disconnected', reason || `closed (${code})`, true);
    }
    // The daemon is stopping, or found this client too slow: it may well take us back shortly.
    if (code === CLOSE_BY_SERVER) return retryLater(`connection closed by the daemon: ${reason || code}`);
    // Refused before the upgrade, or the connection dropped: ask the API why (401, 404, a disabled console...).
    const why = await diagnose();
    if (disposed) return;
    if (why) {
      status(why, true);
      return ui.showOverlay(opened ? 'Disconnected' : 'Cannot attach', why, true);
    }
    retryLater(opened ? 'connection lost' : 'cannot reach the daemon');
  }

  /** Try again after a pause that doubles with every failed attempt, up to RETRY_MAX_MS; attaching resets it. */
  function retryLater(what: string): void {
    const detail = `${what}; reconnecting in ${retryMs / 1000} s`;
    status(detail, true);
    ui.showOverlay('Connection lost', detail, true);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }

  /** Why attaching would fail, or undefined when the node looks reachable (a network blip). */
  async function diagnose(): Promise<string | undefined> {
    try {
      const node = await api.request<NodeView>('GET', `/nodes/${encodeURIComponent(name)}`);
      showFacts(node);
      return node.consoleEnabled ? undefined : `the console of ${name} is disabled`;
    } catch (err) {
      if (err instanceof ApiError && err.status === 0) return undefined;
      return err instanceof Error ? err.message : String(err);
    }
  }

  function showFacts(node: NodeView): void {
    $(root, '.to-screen').hidden = !node.vnc;
    $(root, '.node-facts').textContent = `${node.driver} · ${node.session.state}${node.session.lastError ? `: ${node.session.lastError}` : ''}`;
  }

  function connect(): void {
    clearTimeout(retryTimer);
    ui.hideOverlay();
    status('connecting…');
    socket = new ConsoleSocket(api.urlWithToken(`/nodes/${encodeURIComponent(name)}/console`, { mode, cols: term.cols, rows: term.rows }), {
      open: () => {
        // The daemon replays recent output to every new attachment: a clean screen for it. Not
        // before: while the daemon is away, the screen keeps what was last on it.
        term.reset();
        status('attached');
      },
      data: (bytes) => term.write(bytes),
      message: onMessage,
      close: (code, reason, opened) => void onClose(code, reason, opened),
    });
  }

  // Keyboard to the console. Mouse reports come as binary strings (one byte per char).
  term.onData((data) => socket?.send(data));
  term.onBinary((data) => socket?.send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  term.onResize(({ cols, rows }) => socket?.resize(cols, rows));
  term.attachCustomKeyEventHandler(clipboardKeys(term, status));
  let resizeFrame = 0;
  const resizer = new ResizeObserver(() => {
    resizeFrame ||= requestAnimationFrame(() => {
      resizeFrame = 0;
      fit.fit();
    });
  });
  resizer.observe($(root, '.terminal-wrap'));

  spyToggle.addEventListener('change', () => {
    // The daemon switches modes on the escape and answers with a `mode` message; until then the box shows the old mode.
    send(spyToggle.checked ? ESCAPE.spy : ESCAPE.attachRw);
    spyToggle.checked = mode === 'ro';
    term.focus();
  });
  $(root, '.who').addEventListener('click', () => {
    send(ESCAPE.who);
    term.focus();
  });
  menu.addEventListener('click', (e) => {
    const key = (e.target as HTMLElement).closest<HTMLElement>('[data-key]')?.dataset.key;
    if (key === undefined) return;
    send(SPECIAL_KEYS[Number(key)].bytes);
    menu.open = false;
    term.focus();
  });
  $(root, '.sysrq-send').addEventListener('click', () => {
    const letter = $<HTMLSelectElement>(root, '.sysrq-letter').value;
    if (pendingSysrq) clearTimeout(pendingSysrq.timer);
    pendingSysrq = {
      letter,
      timer: setTimeout(() => {
        pendingSysrq = undefined;
        status(`SysRq ${letter} not sent: the daemon did not confirm the BREAK within ${SYSRQ_WINDOW_MS / 1000} s`, true);
      }, SYSRQ_WINDOW_MS),
    };
    send(ESCAPE.break);
    menu.open = false;
    term.focus();
  });
  $(root, '.copy').addEventListener('click', () => void copySelection(term, status));
  $(root, '.paste').addEventListener('click', () => void pasteInto(term, status));
  $(root, '.download-log').addEventListener('click', () => {
    api.download(`/nodes/${encodeURIComponent(name)}/log`, `${name}.log`)
      .then(() => status(`log of ${name} downloaded`), (err: Error) => status(`log download failed: ${err.message}`, true));
  });
  $(root, '.logout').addEventListener('click', logout);

  showMode(wantedMode);
  connect();
  term.focus();
  void api.request<NodeView>('GET', `/nodes/${encodeURIComponent(name)}`).then(showFacts, () => {});
  // A link's token reaches only its node: no way back to the overview.
  void link.load().then((isLink) => {
    $(root, '.back').hidden = isLink;
  });

  return {
    dispose() {
      disposed = true;
      clearTimeout(retryTimer);
      if (pendingSysrq) clearTimeout(pendingSysrq.timer);
      resizer.disconnect();
      link.dispose();
      socket?.close();
      term.dispose();
      delete window.__sbTerm;
    },
  };
}
