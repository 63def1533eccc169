// The face of the VNC proxy library: the API imports from here, never from the files behind it.
export { ByteReader } from './byte-reader.js';
export { ReadOnlyFilter } from './client-messages.js';
export { VncError, vncErrors } from './errors.js';
export { greetClient } from './handshake.js';
export { connectVncServer, serverLabel, type VncServerConnection } from './server.js';
