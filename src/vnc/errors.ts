// Every error the VNC proxy raises on purpose, in one catalogue: a code and a message short
// enough to be a WebSocket close reason (at most 123 bytes), naming the server and what failed.
export class VncError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'VncError';
  }
}

/** A server's own reason text, cut short: it ends up in a close reason. */
const quote = (reason: string) => (reason ? `: ${JSON.stringify(reason.slice(0, 40))}` : '');

export const vncErrors = {
  UNREACHABLE: (server: string, why: string) => new VncError('VNC_UNREACHABLE', `VNC server ${server} unreachable: ${why}`),
  TIMEOUT: (server: string, step: string) => new VncError('VNC_TIMEOUT', `VNC server ${server}: no answer (${step})`),
  CLOSED: (server: string, step: string) => new VncError('VNC_CLOSED', `VNC server ${server} closed the connection (${step})`),
  NOT_RFB: (server: string) => new VncError('VNC_NOT_RFB', `${server} is not a VNC server (no RFB greeting)`),
  REFUSED: (server: string, reason: string) => new VncError('VNC_REFUSED', `VNC server ${server} refused the connection${quote(reason)}`),
  WRONG_PASSWORD: (server: string, reason: string) =>
    new VncError('VNC_WRONG_PASSWORD', `VNC server ${server} refused the VNC password${quote(reason)}`),
  PASSWORD_REQUIRED: (server: string) =>
    new VncError('VNC_PASSWORD_REQUIRED', `VNC server ${server} wants a password; set the node's vnc.password`),
  NO_COMMON_SECURITY: (server: string, offered: number[]) =>
    new VncError('VNC_SECURITY_UNSUPPORTED', `VNC server ${server} offers security types ${offered.join(',') || 'none'}; only 1 (None) and 2 (VNC auth) are supported`),
  CLIENT_PROTOCOL: (what: string) => new VncError('VNC_CLIENT_PROTOCOL', `RFB client: ${what}`),
} as const;
