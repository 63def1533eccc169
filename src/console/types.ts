// Shapes shared by the console layer and the transports that attach clients to it.

export type SessionState = 'connected' | 'connecting' | 'disconnected' | 'error';
export type ClientMode = 'rw' | 'ro';

/** One transport-side client (a WebSocket, a TCP connection) as the session sees it. */
export interface ConsoleClient {
  readonly kind: string;
  /** Who: 'admin', or a token id once scoped tokens exist. */
  readonly identity: string;
  /** Remote address. */
  readonly from: string;
  /** Console output. */
  send(data: Buffer): void;
  /**
   * A message from Switchboard itself. `inline` is the same text framed to fit the byte stream
   * (own line, CRLF) for clients that have no side channel.
   */
  notice(message: string, inline: Buffer): void;
  /** Tell the client the mode changed (after spy/attach/force). */
  modeChanged?(mode: ClientMode): void;
  /** End the connection, saying why. */
  close(reason: string): void;
  /** Bytes queued towards the client and not yet written to the wire. */
  bufferedBytes(): number;
}

export interface ClientView {
  id: number;
  kind: string;
  identity: string;
  from: string;
  mode: ClientMode;
  attachedAt: string;
  idleSeconds: number;
}

export interface SessionStatus {
  state: SessionState;
  since: string;
  lastError: string | null;
  clients: number;
  /** Driver facts, e.g. the pid of a cmd console. */
  info: Record<string, unknown>;
}

/** Counts what flows through the sessions, per driver name (the daemon's metrics implement it). */
export interface ConsoleMeter {
  /** `out`: console output read from the driver; `in`: client input written to it. */
  bytes(driver: string, direction: 'in' | 'out', n: number): void;
  /** The console dropped or failed to open, and a reconnect is scheduled. */
  reconnect(driver: string): void;
}

export interface SessionOptions {
  /** Bytes of recent output replayed to a client when it attaches. */
  replayBytes: number;
  /** Lines sent back by `^Ec r`. */
  replayLines: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** An ondemand console disconnects this long after its last client detaches. */
  ondemandGraceMs: number;
  /** Break sequences 1-9 in conserver's notation; l0 sends sequence 1. */
  breakSequences: Record<string, string>;
  /** When one client has this many bytes queued, the console is paused until it drains. */
  clientHighWaterBytes: number;
  /** A client that holds the console back this long is disconnected. */
  slowClientMs: number;
  cols: number;
  rows: number;
}

export const DEFAULT_SESSION_OPTIONS: Omit<SessionOptions, 'breakSequences'> = {
  replayBytes: 64 * 1024,
  replayLines: 20,
  reconnectMinMs: 1000,
  reconnectMaxMs: 30_000,
  ondemandGraceMs: 30_000,
  clientHighWaterBytes: 1024 * 1024,
  slowClientMs: 10_000,
  cols: 80,
  rows: 24,
};
