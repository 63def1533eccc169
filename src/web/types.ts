// What the page reads from the API. Written out here rather than imported from src/api: the page
// is built for the browser, apart from the server's Node.js types. Keep in step with src/api/schemas.ts.

export type ConsoleState = 'connected' | 'connecting' | 'disconnected' | 'error';

export interface NodeView {
  name: string;
  driver: string;
  ondemand: boolean;
  consoleEnabled: boolean;
  labels: Record<string, string>;
  power: { driver: string } | null;
  /** The graphical console, if any (its password always shows as '***'). */
  vnc: { host: string; port: number; password?: string } | null;
  session: { state: ConsoleState; since: string; lastError: string | null; clients: number };
  /** Last known power: from status calls, actions and the daemon's optional poll; null: not known yet. */
  powerState: { state: 'on' | 'off' | 'unknown'; at: string; error?: string } | null;
  /** The node's fleet agent as last heard (its hello); null: never heard. */
  agent: { lastSeen: string; version: string } | null;
  /** The watch patterns watching the node: matches so far, the last one, or why one was disabled. */
  watch?: { pattern: string; count: number; last: { line: string; time: string } | null; disabled: string | null }[];
}

export interface TokenView {
  id: string;
  node: string;
  rights: string[];
  kind: string;
  expiresAt: string | null;
  maxExpiresAt: string | null;
  expired: boolean;
}

export interface BulkPowerResult {
  index: number;
  name?: string;
  status: 'done' | 'error';
  power?: 'on' | 'off';
  error?: string;
  message?: string;
}

export type PowerAction = 'on' | 'off' | 'cycle' | 'status';
