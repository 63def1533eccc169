// Where a file reply (toFile / toFileAppend) lands: always inside <root>/<node>, whatever the
// message's directory and fileName say, because both come from whoever submitted the message.
import path from 'node:path';
import { isValidNodeName } from '../model/node.js';
import { fieldError, quote } from './message-error.js';

const MAX_DIRECTORY_LENGTH = 1024;
const MAX_FILE_NAME_LENGTH = 255;

/** A relative folder under the node's own; '' is the node's folder itself. */
export function checkReplyDirectory(where: string, directory: string): void {
  if (directory.length > MAX_DIRECTORY_LENGTH) throw fieldError(where, 'directory', `is longer than ${MAX_DIRECTORY_LENGTH} characters`);
  if (directory.includes('\0')) throw fieldError(where, 'directory', 'must not contain NUL bytes');
  if (path.posix.isAbsolute(directory)) throw fieldError(where, 'directory', `${quote(directory)} must be relative to the node's folder`);
  // steward's examples write "./my/log/files/": normalise, then refuse only what climbs out.
  const normal = path.posix.normalize(directory);
  if (normal === '..' || normal.startsWith('../')) throw fieldError(where, 'directory', `${quote(directory)} leads outside the node's folder`);
}

/** One plain file name: no folders in it, so it cannot undo what checkReplyDirectory allowed. */
export function checkReplyFileName(where: string, fileName: string): void {
  if (fileName === '') throw fieldError(where, 'fileName', 'must not be empty');
  if (fileName.length > MAX_FILE_NAME_LENGTH) throw fieldError(where, 'fileName', `is longer than ${MAX_FILE_NAME_LENGTH} characters`);
  if (fileName.includes('\0')) throw fieldError(where, 'fileName', 'must not contain NUL bytes');
  if (fileName.includes('/') || fileName === '.' || fileName === '..') {
    throw fieldError(where, 'fileName', `${quote(fileName)} must be a plain file name (put folders in 'directory')`);
  }
}

/** The reply file's path relative to the node's folder, e.g. "my/log/files/some.log". */
export function replyRelativePath(where: string, directory: string, fileName: string): string {
  checkReplyDirectory(where, directory);
  checkReplyFileName(where, fileName);
  return path.posix.join(directory, fileName);
}

/**
 * `<root>/<node>/<directory>/<fileName>`, refused (FLEET_MESSAGE, naming the field) when it would
 * leave `<root>/<node>`: `..`, absolute paths, NUL bytes, empty or folder-like file names.
 */
export function replyFilePath(root: string, node: string, directory: string, fileName: string): string {
  if (!isValidNodeName(node)) throw fieldError('reply', 'toNode', `${quote(node)} is not a valid node name`);
  const where = `reply for node '${node}'`;
  const nodeDir = path.resolve(root, node);
  const full = path.resolve(nodeDir, replyRelativePath(where, directory, fileName));
  // The checks above already keep it inside; this one says so independently of how they work.
  if (!full.startsWith(nodeDir + path.sep)) throw fieldError(where, 'directory', `${quote(directory)} leads outside the node's folder`);
  return full;
}
