// The overview's live node list: the daemon's event stream (GET /api/v1/events: a `snapshot`,
// then `node` and `node-deleted` events) when it has one, else polling GET /api/v1/nodes.
import { type Api, ApiError } from '../api.js';
import type { NodeView } from '../types.js';

export const POLL_MS = 2000;

export interface FeedListener {
  snapshot(nodes: NodeView[]): void;
  upsert(node: NodeView): void;
  remove(name: string): void;
  /** How the list is kept fresh, or what went wrong; `ok` false marks a problem. */
  status(text: string, ok: boolean): void;
}

export class NodeFeed {
  private events?: EventSource;
  private timer?: ReturnType<typeof setTimeout>;
  private stopped = false;

  constructor(private readonly api: Api, private readonly listener: FeedListener) {}

  start(): void {
    this.listenToEvents();
  }

  stop(): void {
    this.stopped = true;
    this.events?.close();
    clearTimeout(this.timer);
  }

  private listenToEvents(): void {
    // EventSource cannot show us the status of a refused request: an error before the stream
    // opened (404 from a daemon without events, 401, ...) means "poll instead"; polling then
    // reports a 401 properly. An error after it opened is a dropped stream the browser reopens.
    const es = new EventSource(this.api.urlWithToken('/events'));
    this.events = es;
    let opened = false;
    es.addEventListener('open', () => {
      opened = true;
      this.listener.status('live', true);
    });
    es.addEventListener('snapshot', (e) => this.listener.snapshot((JSON.parse(e.data) as { nodes: NodeView[] }).nodes));
    es.addEventListener('node', (e) => this.listener.upsert(JSON.parse(e.data) as NodeView));
    es.addEventListener('node-deleted', (e) => this.listener.remove((JSON.parse(e.data) as { name: string }).name));
    es.addEventListener('error', () => {
      if (opened && es.readyState === EventSource.CONNECTING) return this.listener.status('live stream lost; reconnecting', false);
      es.close();
      this.events = undefined;
      if (!this.stopped) void this.poll();
    });
  }

  private async poll(): Promise<void> {
    try {
      this.listener.snapshot((await this.api.request<{ nodes: NodeView[] }>('GET', '/nodes')).nodes);
      this.listener.status(`updated every ${POLL_MS / 1000} s`, true);
    } catch (err) {
      // 401 has sent the page back to the login form; 403 (a scoped token) will not get better.
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        this.listener.status(err.message, false);
        return;
      }
      this.listener.status(`update failed: ${(err as Error).message}; retrying`, false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }
}
