// How Switchboard's WebSockets (console, VNC) end: the codes clients read, and the reason text.

/** The user detached. */
export const CLOSE_NORMAL = 1000;
/** A bug on our side. */
export const CLOSE_INTERNAL = 1011;
/** Switchboard closed it and says why in the reason (token expired, node deleted, ...). */
export const CLOSE_BY_SERVER = 4000;

/** A WebSocket close reason is at most 123 bytes. */
export function closeReason(text: string): string {
  return Buffer.from(text).subarray(0, 120).toString();
}
