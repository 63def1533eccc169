// The console driver contract: one live connection to one node's console.
import type { EventEmitter } from 'node:events';
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';

/**
 * Events: 'data' (chunk: Buffer) for console output, 'close' (reason: string) once when the
 * connection ends after a successful open(). open() rejects with a readable reason instead.
 */
export interface ConsoleDriver extends EventEmitter {
  open(): Promise<void>;
  write(data: Buffer): void;
  close(): Promise<void>;
  resize?(cols: number, rows: number): void;
  /** A BREAK condition on the line (SOL, SSH, telnet); absent where the transport has none. */
  sendBreak?(): Promise<void>;
  /** Flow control: stop reading from the console while a client catches up. */
  pause?(): void;
  resume?(): void;
  /** Facts worth showing in the node's view (e.g. the pid of a cmd console). */
  info?(): Record<string, unknown>;
}

/** Host keys seen on first use (SSH), keyed by "host:port"; the store implements it. */
export interface HostKeyStore {
  get(endpoint: string): Promise<string | undefined>;
  /** Records the fingerprint only if none is recorded yet; returns the one that is recorded. */
  remember(endpoint: string, fingerprint: string): Promise<string>;
  forget(endpoint: string): Promise<boolean>;
}

export interface DriverContext {
  node: string;
  cols: number;
  rows: number;
  logger: Logger;
  hostKeys: HostKeyStore;
}

/** What every driver (console or power) declares, so its params are checked before use. */
export interface DriverDefinition<P = Record<string, unknown>> {
  name: string;
  description: string;
  /** JSON schema (TypeBox) the node's params must satisfy before anything connects. */
  paramsSchema: TSchema;
  /** Param names that are never returned or logged. */
  secretParams: readonly string[];
  /** Checks the schema cannot express; returns a reason naming the param, or undefined. */
  check?(params: P): string | undefined;
}

export interface ConsoleDriverDefinition<P = Record<string, unknown>> extends DriverDefinition<P> {
  create(params: P, ctx: DriverContext): ConsoleDriver;
}
