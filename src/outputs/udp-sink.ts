// A udp output: one JSON record per datagram (rsyslog imudp, logstash's udp input with the json
// codec). A record too big for one datagram has its message cut to fit. The kernel takes datagrams
// without back-pressure, so only a bounded number are handed over at a time; the rest wait in the
// bounded queue.
import dgram from 'node:dgram';
import net from 'node:net';
import { RecordQueue, type RecordBatch } from './record-batch.js';
import type { OutputRecord, Sink, SinkStats, SinkLogger } from './types.js';

/** rsyslog's imudp default maximum message size; well under the 64 KiB datagram limit. */
export const UDP_MAX_BYTES = 8192;
/** Datagrams handed to the kernel and not yet reported sent. */
const MAX_IN_FLIGHT = 64;

export interface UdpSinkOptions {
  name: string;
  host: string;
  port: number;
  maxQueued: number;
  logger: SinkLogger;
  maxBytes?: number;
}

export class UdpSink implements Sink {
  readonly name: string;
  private readonly queue: RecordQueue;
  /** Records of the batch being sent, one datagram each. */
  private pending: string[] = [];
  private readonly socket: dgram.Socket;
  private readonly maxBytes: number;
  private inFlight = 0;
  private sent = 0;
  private reportedError = false;
  private closed = false;

  constructor(private readonly opts: UdpSinkOptions) {
    this.name = opts.name;
    this.maxBytes = opts.maxBytes ?? UDP_MAX_BYTES;
    this.queue = new RecordQueue(opts.maxQueued);
    this.socket = dgram.createSocket(net.isIPv6(opts.host) ? 'udp6' : 'udp4');
    this.socket.on('error', (err) => this.report(err));
  }

  send(batch: RecordBatch): void {
    if (this.closed) return;
    this.queue.push(batch);
    this.pump();
  }

  stats(): SinkStats {
    // Nothing to connect to: "connected" says the last datagram went out without error.
    return { sent: this.sent, dropped: this.queue.dropped, queued: this.queue.size + this.pending.length, connected: !this.reportedError };
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT) {
      if (this.pending.length === 0) this.pending = this.queue.shift()?.records().reverse() ?? [];
      const record = this.pending.pop();
      if (record === undefined) return;
      this.inFlight++;
      this.socket.send(encodeDatagram(record, this.maxBytes), this.opts.port, this.opts.host, (err) => {
        this.inFlight--;
        if (err) this.report(err);
        else {
          this.sent++;
          this.reportedError = false;
        }
        if (!this.closed) this.pump();
      });
    }
  }

  private report(err: Error): void {
    if (!this.reportedError) this.opts.logger.warn({ output: this.name, type: 'udp', err: err.message }, 'output send failed');
    this.reportedError = true;
  }

  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** The record as one datagram of at most maxBytes: its message shortened (marked with …) if need be. */
export function encodeDatagram(json: string, maxBytes: number): Buffer {
  const whole = Buffer.from(json);
  if (whole.length <= maxBytes) return whole;
  const record = JSON.parse(json) as OutputRecord;
  // JSON escaping makes the wire length no simple function of the message's: search for the longest cut that fits.
  const message = Buffer.from(record.message);
  const encode = (keep: number) => Buffer.from(JSON.stringify({ ...record, message: `${message.subarray(0, keep).toString('utf8').replace(/\uFFFD$/, '')}…`, truncated: true }));
  let [lo, hi] = [0, message.length];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (encode(mid).length <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return encode(lo);
}
