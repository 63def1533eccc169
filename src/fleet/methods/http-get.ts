// httpGet: fetch an http(s) URL (message.ts has checked the scheme) and keep the body up to a cap.
// methodTimeout aborts the request wherever it is: connecting, waiting for headers, or reading.
import { CappedText } from './capped-text.js';
import { OUTPUT_CAP_BYTES } from './cli-command.js';

/** The same as a command's stdout: the reply, JSON-escaped, must fit NATS's max_payload (1 MB by default). */
export const BODY_CAP_BYTES = OUTPUT_CAP_BYTES;

export interface HttpGetResult {
  /** The HTTP status; absent when no response came (network error, timeout). */
  status?: number;
  statusText?: string;
  body: string;
  /** The body went on past the cap; the rest was not read. */
  truncated: boolean;
  timedOut: boolean;
  /** Why no (complete) response came: DNS, connection refused, reset. */
  networkError?: string;
}

export async function httpGet(url: string, opts: { timeoutMs: number; capBytes?: number }): Promise<HttpGetResult> {
  const body = new CappedText(opts.capBytes ?? BODY_CAP_BYTES);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  let response: Response | undefined;
  try {
    response = await fetch(url, { signal: abort.signal, redirect: 'follow' });
    const reader = response.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!body.add(value)) {
        await reader.cancel(); // the rest is not read: a multi-gigabyte body costs nothing more
        break;
      }
    }
    return { status: response.status, statusText: response.statusText, body: body.text(), truncated: body.truncated, timedOut: false };
  } catch (err) {
    const timedOut = abort.signal.aborted;
    return {
      ...(response && { status: response.status, statusText: response.statusText }),
      body: body.text(),
      truncated: body.truncated,
      timedOut,
      ...(!timedOut && { networkError: describe(err) }),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause. */
function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}
