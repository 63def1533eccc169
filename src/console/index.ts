export { ConsoleManager, type ConsoleManagerDeps } from './manager.js';
export { ConsoleSession, Attachment } from './session.js';
export { RawPorts, type RawPortStatus, type ServerFactory } from './raw-ports.js';
export { RingBuffer } from './ring-buffer.js';
export { EscapeParser, ESCAPE_HELP } from './escape.js';
export { DEFAULT_BREAK_SEQUENCES, parseBreakSequence } from './break-sequence.js';
export * from './types.js';
