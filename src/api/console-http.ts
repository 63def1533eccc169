// A node's console as the body of a plain HTTP response (OBMd's GET /node/{id}/console): read-only,
// console bytes only, until the client goes, the token dies or the session ends.
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ConsoleManager } from '../console/manager.js';
import type { Attachment } from '../console/session.js';
import type { ConsoleClient } from '../console/types.js';
import type { TokenService } from '../tokens/service.js';
import type { Identity } from './auth.js';

/**
 * A console client on a response body. Notices are dropped: such clients expect the console's
 * bytes and nothing else. Backpressure: what the stream and the socket hold counts as buffered;
 * the response asking for more is the drain.
 */
class ResponseStreamClient implements ConsoleClient {
  readonly kind = 'http';
  readonly body: Readable;
  attachment?: Attachment;
  private ended = false;

  constructor(readonly identity: string, readonly from: string, private readonly res: ServerResponse) {
    this.body = new Readable({ read: () => this.attachment?.drained() });
    // Headers go out as soon as fastify pipes the body, not with the first console byte:
    // the client knows it is attached even on a silent console.
    res.once('pipe', () => res.flushHeaders());
  }

  send(data: Buffer): void {
    if (!this.ended) this.body.push(data);
  }

  notice(): void {}

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.body.push(null);
  }

  bufferedBytes(): number {
    return this.body.readableLength + this.res.writableLength;
  }
}

/**
 * Attach read-only (no replay) and return the stream to send as the response body. The caller has
 * checked that the node exists and may be watched by `identity`.
 */
export function consoleResponseBody(
  deps: { consoles: ConsoleManager; tokens: TokenService },
  node: string,
  identity: Identity,
  from: string,
  res: ServerResponse,
): Readable {
  const client = new ResponseStreamClient(identity.id, from, res);
  const attachment = deps.consoles.attach(node, client, 'ro', { canWrite: false, replay: false });
  client.attachment = attachment;
  // The token replaced, revoked or expired, or the node deleted: the stream ends.
  const untrack = deps.tokens.track(identity.token, attachment); // notices: the client drops them
  client.body.once('close', () => {
    untrack();
    attachment.detach();
  });
  return client.body;
}
