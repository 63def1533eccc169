// A console link's token: when it expires, renewing it (by hand, and by itself when the daemon
// warns, as `switchboard console` does), and when it cannot be renewed further.
import { type Api, ApiError } from '../api.js';
import { duration, esc } from '../html.js';
import type { TokenView } from '../types.js';

export class LinkStatus {
  private token?: TokenView;
  private timer?: ReturnType<typeof setInterval>;
  private note = '';
  private renewing?: Promise<void>;

  constructor(private readonly api: Api, private readonly el: HTMLElement) {
    el.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('.renew')) void this.renew();
    });
  }

  /** Whether the page runs on a scoped token (a link); the admin token has no `self` (400). */
  async load(): Promise<boolean> {
    try {
      this.token = await this.api.request<TokenView>('GET', '/tokens/self');
    } catch (err) {
      if (err instanceof ApiError && err.status !== 400) this.note = `token: ${err.message}`;
      return false;
    }
    this.el.hidden = false;
    this.show();
    // A second's resolution matters only for short links; the text is all that changes.
    this.timer = setInterval(() => this.show(), 1000);
    return true;
  }

  get isLink(): boolean {
    return this.token !== undefined;
  }

  /**
   * The daemon warned that the token expires soon. It warns again after every renewal that leaves
   * the token inside the warning window, so a token at its limit is not renewed again (that would
   * loop until it expires), nor one whose renewal is already under way.
   */
  renewOnWarning(): Promise<void> {
    const t = this.token;
    if (!t?.expiresAt || t.expired || (t.maxExpiresAt !== null && t.expiresAt === t.maxExpiresAt)) return Promise.resolve();
    return this.renew();
  }

  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (!this.token) return;
    const before = this.token.expiresAt;
    try {
      this.token = await this.api.request<TokenView>('POST', '/tokens/self/renew', {});
      this.note = this.token.expiresAt === before ? 'cannot be renewed further' : 'renewed';
    } catch (err) {
      this.note = `renewal failed: ${(err as Error).message}`;
    }
    this.show();
  }

  /** The connection was closed because the token expired. */
  expired(): void {
    if (this.token) this.token = { ...this.token, expired: true };
    this.note = '';
    this.show();
    clearInterval(this.timer);
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private show(): void {
    const t = this.token;
    if (!t) return;
    const at = t.expiresAt ? Date.parse(t.expiresAt) : undefined;
    const capped = t.maxExpiresAt !== null && t.expiresAt === t.maxExpiresAt;
    let text: string;
    if (at === undefined) text = 'link never expires';
    else if (t.expired || at <= Date.now()) text = 'link expired';
    else text = `link expires in ${duration(at - Date.now())}`;
    const title = at ? `until ${new Date(at).toLocaleString()}${capped ? ' (the renewal limit)' : ''}` : '';
    const canRenew = at !== undefined && !t.expired && at > Date.now() && !capped;
    this.el.innerHTML = `<span class="expiry" title="${esc(title)}">${esc(text)}</span>`
      + (this.note ? ` <span class="link-note">${esc(this.note)}</span>` : '')
      + (canRenew ? ' <button type="button" class="renew">Renew</button>' : '');
  }
}
