// The console driver contract: every driver runs these tests against its real peer, through a
// real ConsoleSession (so reconnect is the session's, as in the daemon).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { DEFAULT_BREAK_SEQUENCES } from '../../src/console/break-sequence.js';
import { ConsoleSession, type Attachment } from '../../src/console/session.js';
import { DEFAULT_SESSION_OPTIONS, type ConsoleClient, type SessionStatus } from '../../src/console/types.js';
import type { ConsoleDriverDefinition, HostKeyStore } from '../../src/drivers/types.js';
import type { NodeSpec } from '../../src/model/node.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { Transcript } from '../support/console-clients.js';
import { onEvents, waitUntil } from '../support/wait.js';

export interface DriverHarness {
  driver: ConsoleDriverDefinition<any>;
  /** Params of a console whose far side is a shell (or echoes what it gets). */
  params(): Promise<Record<string, unknown>>;
  /** Input that makes the far side print its window size as "ROWS COLS"; omit when it cannot. */
  sizeProbe?: string;
  /** Cut the console off at the far end (kill the peer, drop the link). */
  dropPeer(session: ConsoleSession): Promise<void>;
  /** Undo dropPeer, if the peer does not come back by itself. */
  restorePeer?(): Promise<void>;
  /** Params that must fail with a clear reason (bad credentials, or what the driver has instead). */
  badParams(): Promise<Record<string, unknown>>;
  badReason: RegExp;
}

/** A client as the session sees it, keeping a transcript. */
class TestClient extends Transcript implements ConsoleClient {
  readonly kind = 'test';
  readonly identity = 'contract';
  readonly from = 'in-process';
  send(data: Buffer): void {
    this.output += data.toString('latin1');
    this.changed();
  }
  notice(message: string): void {
    this.notices.push(message);
    this.changed();
  }
  close(): void {
    this.closed = true;
    this.changed();
  }
  bufferedBytes(): number {
    return 0;
  }
}

function newSession(driver: ConsoleDriverDefinition<any>, params: Record<string, unknown>, hostKeys: HostKeyStore, logged: Buffer[]): ConsoleSession {
  const spec: NodeSpec = { name: `contract-${driver.name}`, driver: driver.name, params, ondemand: false, consoleEnabled: true, labels: {}, power: null, consolePort: null, vnc: null, watchPatterns: [] };
  return new ConsoleSession(spec, {
    driver,
    hostKeys,
    openOutput: () => ({ write: (chunk) => void logged.push(chunk), close: async () => undefined }),
    options: { ...DEFAULT_SESSION_OPTIONS, reconnectMinMs: 100, reconnectMaxMs: 500, breakSequences: DEFAULT_BREAK_SEQUENCES },
    logger: pino({ level: 'silent' }),
  });
}

function waitState(session: ConsoleSession, pred: (s: SessionStatus) => boolean, what: string, timeoutMs = 20_000): Promise<SessionStatus> {
  return waitUntil(() => (pred(session.status()) ? session.status() : undefined), {
    what,
    timeoutMs,
    subscribe: onEvents(session, 'state'),
    describe: () => JSON.stringify(session.status()),
  });
}

export function driverContract(name: string, harness: () => DriverHarness): void {
  describe(`console driver contract: ${name}`, () => {
    const store = new SqliteStore(':memory:');

    test('opens, echoes a round trip, follows resize, reconnects after the peer drops, closes', async () => {
      const h = harness();
      const logged: Buffer[] = [];
      const session = newSession(h.driver, await h.params(), store.hostKeys, logged);
      const client = new TestClient();
      const a: Attachment = session.attach(client, 'rw');
      session.start();
      try {
        await waitState(session, (s) => s.state === 'connected', 'connected');
        a.input(Buffer.from('echo contract-$((6*7))\r'));
        await client.waitFor('contract-42');
        assert.match(Buffer.concat(logged).toString('latin1'), /contract-42/, 'the output reached the session output (log)');

        if (h.sizeProbe) {
          a.resize(111, 37);
          a.input(Buffer.from(h.sizeProbe));
          await client.waitFor('37 111');
        }

        await h.dropPeer(session);
        const down = await waitState(session, (s) => s.state !== 'connected', 'down after the peer dropped');
        assert.ok(down.lastError, 'a reason is given');
        await client.waitForNotice(/console (down|failed): .*reconnecting/);
        await h.restorePeer?.();
        await waitState(session, (s) => s.state === 'connected', 'reconnected');
        a.input(Buffer.from('echo back-$((2+3))\r'));
        await client.waitFor('back-5');
      } finally {
        await session.stop('test over');
      }
      assert.equal(session.status().state, 'disconnected');
      assert.ok(client.closed, 'clients are told when the session stops');
    });

    test('bad credentials (or the driver\'s equivalent) put the session in error with the reason', async () => {
      const h = harness();
      const session = newSession(h.driver, await h.badParams(), store.hostKeys, []);
      session.start();
      try {
        const s = await waitState(session, (st) => st.state === 'error', 'error state');
        assert.match(s.lastError ?? '', h.badReason);
      } finally {
        await session.stop('test over');
      }
    });
  });
}
