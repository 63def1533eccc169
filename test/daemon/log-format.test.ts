// The daemon's own log as the person who started it sees it: readable lines on a terminal, JSON
// lines with --log-format json (and whenever stdout is not a terminal, which every other test that
// reads the daemon's log relies on).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PtySession } from '../support/cli.js';
import { BIN, tempDir } from '../support/daemon.js';
import { freePort } from '../support/ports.js';

async function serveOnTerminal(extra: string[]): Promise<{ ready: string; code: number }> {
  const port = await freePort();
  const args = [BIN, 'serve', '--data-dir', tempDir('log-format'), '--listen', `127.0.0.1:${port}`, '--console-port', '-1', ...extra];
  const p = new PtySession(process.execPath, args, { ...process.env, NO_COLOR: '1' });
  const ready = await p.waitFor(/[^\r\n]*switchboard ready[^\r\n]*/);
  p.proc.kill('SIGTERM');
  return { ready, code: await p.exit };
}

describe('the daemon log on a terminal', () => {
  test('is one readable line per event: time, level, message, then the details', async () => {
    const { ready, code } = await serveOnTerminal([]);
    assert.match(ready, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: switchboard ready \{"http":"http:\/\/127\.0\.0\.1:\d+"/);
    assert.equal(code, 0);
  });

  test('is JSON lines with --log-format json', async () => {
    const { ready, code } = await serveOnTerminal(['--log-format', 'json']);
    const line = JSON.parse(ready) as { msg: string; level: number; pid: number };
    assert.equal(line.msg, 'switchboard ready');
    assert.equal(line.level, 30);
    assert.equal(code, 0);
  });
});
