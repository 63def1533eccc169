// Where console bytes go besides the attached clients. The log file is the first; tcp/udp/nats follow.

export interface ConsoleOutput {
  write(chunk: Buffer): void;
  /** Flush what is buffered and release the resource. */
  close(): Promise<void>;
}
