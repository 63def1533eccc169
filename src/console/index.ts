export { ConsoleManager, type ConsoleManagerDeps } from './manager.js';
export { ConsoleSession, Attachment } from './session.js';
export { RawPorts, type RawPortStatus } from './raw-ports.js';
export type { ServerFactory } from './stream-transport.js';
export { RingBuffer } from './ring-buffer.js';
export { EscapeParser, ESCAPE_HELP } from './escape.js';
export { DEFAULT_BREAK_SEQUENCES, parseBreakSequence } from './break-sequence.js';
export * from './types.js';
