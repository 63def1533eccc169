// Calls to the daemon's REST API with the page's token, and its errors as ApiError.

export const API = '/api/v1';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export class Api {
  /**
   * @param token the token to send (read on every call: a login replaces it)
   * @param unauthorized told of every 401, so the page can go back to the login form
   */
  constructor(readonly token: () => string, private readonly unauthorized: (err: ApiError) => void) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  /** Fetch a file (a node's log) with the token in a header, and hand it to the browser to save. */
  async download(path: string, filename: string): Promise<void> {
    const res = await this.fetch(path, {});
    const url = URL.createObjectURL(await res.blob());
    const a = Object.assign(document.createElement('a'), { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    // The click has started the download; the object URL is only needed until then.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  /** An EventSource or WebSocket cannot send headers: the token goes in the query (the daemon redacts it in logs). */
  urlWithToken(path: string, query: Record<string, string | number> = {}): string {
    const params = new URLSearchParams({ ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])), token: this.token() });
    return `${API}${path}?${params}`;
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${API}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${this.token()}` } });
    } catch (err) {
      throw new ApiError(0, 'NETWORK', `cannot reach the daemon (${(err as Error).message})`);
    }
    if (res.ok) return res;
    const err = await errorOf(res);
    if (res.status === 401) this.unauthorized(err);
    throw err;
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    return new ApiError(res.status, body.error ?? `HTTP_${res.status}`, body.message ?? text);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, text.trim().slice(0, 200) || res.statusText);
  }
}
