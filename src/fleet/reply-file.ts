// Reply methods file and fileAppend: the reply's output, stdout then stderr, written to
// <data-dir>/fleet/<node>/<directory>/<fileName>. replyFilePath is the gate: the message's checks
// at submit time already refused anything that climbs out, and it refuses it again here.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FleetMessageRecord } from '../store/types.js';
import { replyFilePath } from './reply-path.js';
import type { FleetReply } from './wire.js';

export interface ReplyFileTarget {
  node: string;
  replyMethod: string;
  directory: string;
  fileName: string | null;
}

export function isFileReply(target: ReplyFileTarget): target is ReplyFileTarget & { replyMethod: 'file' | 'fileAppend'; fileName: string } {
  return (target.replyMethod === 'file' || target.replyMethod === 'fileAppend') && !!target.fileName;
}

/**
 * Whether a final message's reply is where it goes: true unless it is a file reply not yet
 * written (nor failed to be). Between the final state and the file, waiters keep waiting.
 */
export function replyHandled(record: FleetMessageRecord): boolean {
  return !record.reply || !!record.replyFile || !!record.replyFileError || !isFileReply(replyTarget(record));
}

export function replyTarget(record: FleetMessageRecord): ReplyFileTarget {
  return { node: record.node, replyMethod: record.replyMethod, directory: record.replyDirectory, fileName: record.replyFileName };
}

/** What goes in the file: stdout, then stderr, as the method produced them. */
export function replyOutput(reply: Pick<FleetReply, 'stdout' | 'stderr'>): string {
  return (reply.stdout ?? '') + (reply.stderr ?? '');
}

/**
 * Writes (file) or appends (fileAppend) the output; returns the file's path and the bytes written.
 * `append` forces appending: the second and later parts of a streamed reply.
 */
export async function writeReplyFile(
  root: string,
  target: ReplyFileTarget & { replyMethod: 'file' | 'fileAppend'; fileName: string },
  output: string,
  append = false,
): Promise<{ file: string; bytes: number }> {
  const file = replyFilePath(root, target.node, target.directory, target.fileName);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o750 });
  const write = target.replyMethod === 'file' && !append ? writeFile : appendFile;
  await write(file, output, { mode: 0o640 });
  return { file, bytes: Buffer.byteLength(output) };
}
