// `switchboard console NODE`: attach this terminal to a node's console over the WebSocket.
// Escape keys (Ctrl-E c ...) are handled by the daemon, so this side only moves bytes, keeps the
// terminal raw while attached, and restores it on every way out.
import WebSocket from 'ws';
import { ApiClient, CliError } from './client.js';

export interface ConsoleOptions {
  ro: boolean;
  replay: boolean;
  /** With a pipe for stdin: how long to keep printing output after the input ends. */
  lingerMs: number;
}

/** Resolves with the process exit code. */
export function attachConsole(api: ApiClient, node: string, opts: ConsoleOptions): Promise<number> {
  const url = new URL(`${api.baseUrl.replace(/^http/, 'ws')}/api/v1/nodes/${encodeURIComponent(node)}/console`);
  url.searchParams.set('mode', opts.ro ? 'ro' : 'rw');
  if (!opts.replay) url.searchParams.set('replay', 'false');
  const tty = process.stdin.isTTY === true;
  if (process.stdout.isTTY) {
    url.searchParams.set('cols', String(process.stdout.columns || 80));
    url.searchParams.set('rows', String(process.stdout.rows || 24));
  }

  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: api.authHeader(), perMessageDeflate: false, ca: api.ca });
    let lineStart = true;
    let rawMode = false;
    let lingerTimer: NodeJS.Timeout | undefined;

    const restore = () => {
      if (rawMode) process.stdin.setRawMode(false);
      rawMode = false;
    };
    const cleanup = () => {
      restore();
      clearTimeout(lingerTimer);
      process.stdin.off('data', onInput);
      process.stdin.off('end', onInputEnd);
      process.stdin.pause();
      process.off('SIGWINCH', onResize);
      process.off('exit', restore);
      for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.off(sig, onSignal);
    };
    const write = (data: Buffer | string) => {
      if (data.length === 0) return;
      process.stdout.write(data);
      const last = typeof data === 'string' ? data.charCodeAt(data.length - 1) : data[data.length - 1];
      lineStart = last === 0x0a || last === 0x0d;
    };
    let lastNotice = '';
    const notice = (text: string) => {
      lastNotice = text;
      write(`${lineStart ? '' : '\r\n'}[${text}]\r\n`);
    };

    const onInput = (chunk: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
    };
    const onInputEnd = () => {
      // Scripts: the input is done; give the console a moment to answer, then detach.
      lingerTimer = setTimeout(() => ws.close(1000, 'input ended'), opts.lingerMs);
    };
    const onResize = () => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: process.stdout.columns, rows: process.stdout.rows }));
    };
    const onSignal = () => ws.close(1000, 'signal');
    // A scoped token (a console link's, say) is renewed while it is in use: no cut-off mid-work
    // unless policy caps it. The daemon warns ahead of expiry; that is the cue.
    const renew = async (warning: string) => {
      try {
        const t = await api.request<{ expiresAt: string }>('POST', '/tokens/self/renew', {});
        notice(`token renewed: valid until ${t.expiresAt}`);
      } catch (err) {
        notice(`${warning} (renewal failed: ${(err as Error).message})`);
      }
    };

    process.on('exit', restore);
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.on(sig, onSignal);

    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        cleanup();
        let body: { error?: string; message?: string } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch { /* not JSON */ }
        reject(new CliError(body.error ?? `HTTP_${res.statusCode}`, body.message ?? `attach refused with HTTP ${res.statusCode}`));
      });
    });
    let failed = false;
    ws.on('error', (err) => {
      failed = true;
      cleanup();
      reject(api.connectError(err, `cannot attach to ${node} at ${api.baseUrl}`));
    });
    ws.on('open', () => {
      if (tty) {
        process.stdin.setRawMode(true);
        rawMode = true;
      }
      process.stdin.on('data', onInput);
      process.stdin.on('end', onInputEnd);
      process.stdin.resume();
      process.on('SIGWINCH', onResize);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return write(data);
      let msg: { type?: string; message?: string; mode?: string };
      try {
        msg = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      if (msg.type === 'notice' && msg.message && /^token expires in/.test(msg.message)) void renew(msg.message);
      else if (msg.type === 'notice' && msg.message) notice(msg.message);
      else if (msg.type === 'error' && msg.message) notice(`error: ${msg.message}`);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      cleanup();
      // ws follows an 'error' with a 'close' (1006); the error has said what went wrong.
      if (failed) return;
      const why = reason.toString('utf8');
      // A detach is announced by the daemon itself ("[disconnected]"); only failures need words here.
      if (code === 1000) {
        resolve(0);
      } else {
        // The daemon usually said why already ("[token revoked]"); say it once.
        if (why !== lastNotice) notice(`disconnected: ${why || `code ${code}`}`);
        resolve(1);
      }
    });
  });
}
