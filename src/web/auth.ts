// The token the page calls the API with. It lives in sessionStorage: per tab, gone when the tab
// closes, never in a cookie (so no request carries it unasked and no CSRF is possible).

const KEY = 'switchboard.token';
/** Set when the token came from a console link: a 401 then means the link is over (after a reload too). */
const FROM_LINK = 'switchboard.tokenFromLink';

export const tokenStore = {
  get: (): string | undefined => sessionStorage.getItem(KEY) ?? undefined,
  fromLink: (): boolean => sessionStorage.getItem(FROM_LINK) === '1',
  set(token: string, fromLink: boolean): void {
    sessionStorage.setItem(KEY, token);
    if (fromLink) sessionStorage.setItem(FROM_LINK, '1');
    else sessionStorage.removeItem(FROM_LINK);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(FROM_LINK);
  },
};

/**
 * A console link ends in `#token=...`: browsers never send the fragment, so the token stays out
 * of every server log. Take it, and take it out of the address bar (and history) at once, so it
 * is not shared by copying the address or kept in the history.
 */
export function takeFragmentToken(): string | undefined {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return undefined;
  history.replaceState(history.state, '', location.pathname + location.search);
  return decodeURIComponent(m[1]);
}
