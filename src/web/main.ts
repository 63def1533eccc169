// The page's entry: log in (form, or `#token=` from a console link), then show the page the path
// names: `/` the fleet overview, `/console/NAME` a node's terminal, `/vnc/NAME` its screen (VNC).
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { Api, type ApiError } from './api.js';
import { takeFragmentToken, tokenStore } from './auth.js';
import { showOverview } from './fleet/overview.js';
import { $ } from './html.js';
import { showLogin } from './login.js';
import { showTerminal } from './terminal/terminal-page.js';

/** A page that can be taken down (sockets closed, timers stopped) when the login is refused. */
export interface Page {
  dispose(): void;
}

const root = $(document, '#app');
const linkToken = takeFragmentToken();
if (linkToken) tokenStore.set(linkToken, true);
let page: Page | undefined;
/** Counts page starts: a 401 answered to an earlier page is old news. */
let generation = 0;

function start(message?: string): void {
  const mine = ++generation;
  page?.dispose();
  page = undefined;
  const token = tokenStore.get();
  if (!token) return showLogin(root, message, (t) => {
    tokenStore.set(t, false);
    start();
  });
  // Several calls in flight may all be refused: only the first one, while this page is up, counts.
  const api = new Api(() => tokenStore.get() ?? '', (err) => {
    if (mine === generation) refused(err);
  });
  const nodePage = /^\/(console|vnc)\/([^/]+)\/?$/.exec(location.pathname);
  if (nodePage) {
    const name = decodeURIComponent(nodePage[2]);
    const mode = new URLSearchParams(location.search).get('mode') === 'ro' ? 'ro' : 'rw';
    page = nodePage[1] === 'vnc'
      ? loadPage(() => import('./vnc/vnc-page.js'), (m) => m.showVncPage(root, { api, name, mode, logout }))
      : showTerminal(root, { api, name, mode, logout });
  } else {
    page = showOverview(root, { api, logout });
  }
}

/**
 * A page in its own chunk, fetched when it is opened: noVNC is as big as the rest of the page put
 * together, and only the graphical console needs it.
 */
function loadPage<M>(load: () => Promise<M>, show: (module: M) => Page): Page {
  let shown: Page | undefined;
  let disposed = false;
  load().then((m) => {
    if (!disposed) shown = show(m);
  }, (err: Error) => {
    if (!disposed) root.textContent = `This page could not be loaded (${err.message}); reload to try again.`;
  });
  return {
    dispose() {
      disposed = true;
      shown?.dispose();
    },
  };
}

/** Any 401: the token is wrong, expired or revoked. Back to the form, saying so. */
function refused(err: ApiError): void {
  const fromLink = tokenStore.fromLink();
  tokenStore.clear();
  start(fromLink
    ? 'This console link has expired or was revoked: ask for a new one, or log in with a token.'
    : `The daemon refused the token (${err.message}). Log in again.`);
}

function logout(): void {
  tokenStore.clear();
  start('Logged out.');
}

start();
