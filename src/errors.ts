// The one catalogue of errors Switchboard raises on purpose: a code, a message, an HTTP status.
// Callers throw these by name; the API turns them into {"error": CODE, "message": ...}.
import createError from '@fastify/error';

export const errors = {
  VALIDATION: createError('VALIDATION', '%s', 400),
  BAD_NODE_NAME: createError(
    'BAD_NODE_NAME',
    'invalid node name %s: use 1-63 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit',
    400,
  ),
  UNKNOWN_DRIVER: createError<'UNKNOWN_DRIVER', 400, [string, string, string, string]>('UNKNOWN_DRIVER', "node '%s': unknown %s driver '%s' (known: %s)", 400),
  BAD_PARAMS: createError('BAD_PARAMS', "node '%s': driver '%s' params: %s", 400),
  NAME_MISMATCH: createError('NAME_MISMATCH', "body names node '%s' but the path names '%s'", 400),
  NODE_NOT_FOUND: createError('NODE_NOT_FOUND', "node '%s' does not exist", 404),
  NODE_EXISTS: createError('NODE_EXISTS', "node '%s' already exists", 409),
  UNAUTHORIZED: createError('UNAUTHORIZED', 'missing or invalid token', 401),
  FORBIDDEN: createError('FORBIDDEN', '%s', 403),
  TOKEN_NOT_FOUND: createError('TOKEN_NOT_FOUND', "token '%s' does not exist", 404),
  TOKEN_EXPIRED: createError('TOKEN_EXPIRED', "token '%s' has expired", 409),
  CONSOLE_PORT_TAKEN: createError('CONSOLE_PORT_TAKEN', 'console port %s is taken by node %s', 409),
  NO_FREE_CONSOLE_PORT: createError('NO_FREE_CONSOLE_PORT', "node '%s': no free console port in %s", 409),
  TOO_MANY_REQUESTS: createError('TOO_MANY_REQUESTS', 'too many failed logins from %s; try again in %s', 429),
  CONSOLE_DISABLED: createError('CONSOLE_DISABLED', "node '%s': console is disabled", 409),
  BODY_TOO_LARGE: createError('BODY_TOO_LARGE', 'request body is larger than %s bytes', 413),
  BAD_JSON: createError('BAD_JSON', 'request body is not valid JSON: %s', 400),
  UNSUPPORTED_MEDIA_TYPE: createError('UNSUPPORTED_MEDIA_TYPE', "content type '%s' is not supported: send application/json", 415),
  BAD_HANDSHAKE: createError('BAD_HANDSHAKE', 'console handshake: %s', 400),
  POWER_NOT_CONFIGURED: createError('POWER_NOT_CONFIGURED', "node '%s' has no power control configured (set its power: {driver, params})", 409),
  VNC_NOT_CONFIGURED: createError('VNC_NOT_CONFIGURED', "node '%s' has no graphical console configured (set its vnc: {host, port, password})", 409),
  POWER_FAILED: createError('POWER_FAILED', "node '%s': power %s failed: %s", 502),
  POWER_TIMEOUT: createError('POWER_TIMEOUT', "node '%s': power %s: %s", 504),
  CONFIG: createError('CONFIG', 'configuration: %s', 500),
  SIGNER_KEY_FILE: createError('SIGNER_KEY_FILE', 'fleet signing key %s: %s', 500),
  BAD_ALLOWED_SIGNER: createError('BAD_ALLOWED_SIGNER', "allowed signer '%s': %s", 400),
  WEB_NOT_BUILT: createError('WEB_NOT_BUILT', 'the web console is not built (no index.html in %s): run npm run build', 404),
  SHUTTING_DOWN: createError('SHUTTING_DOWN', 'the daemon is shutting down', 503),
  /** A fleet message submission refused: where ("message 2", "submission") and what, naming the field. */
  FLEET_MESSAGE: createError<'FLEET_MESSAGE', 400, [string, string]>('FLEET_MESSAGE', '%s: %s', 400),
  FLEET_DISABLED: createError('FLEET_DISABLED', 'fleet messaging is not enabled on this daemon: start it with --nats URL (env SWITCHBOARD_NATS_URL, config natsUrl)', 503),
  FLEET_UNAVAILABLE: createError('FLEET_UNAVAILABLE', 'fleet messaging: %s', 503),
  FLEET_MESSAGE_NOT_FOUND: createError('FLEET_MESSAGE_NOT_FOUND', "fleet message '%s' does not exist", 404),
  /** The agent's --methods / --allowed-nodes, or its saved method policy file, cannot be used. */
  /** A log search that failed once under way, or ran out of time (a regex that backtracks); sent as the stream's last line. */
  SEARCH_FAILED: createError('SEARCH_FAILED', 'log search: %s', 500),
  SEARCH_TIMEOUT: createError('SEARCH_TIMEOUT', 'log search: %s', 503),
  FLEET_METHOD_POLICY: createError('FLEET_METHOD_POLICY', 'agent method policy: %s', 400),
} as const;

/** The shape every API error takes on the wire. */
export interface ErrorBody {
  error: string;
  message: string;
  field?: string;
}

export function isSwitchboardError(err: unknown): err is Error & { code: string; statusCode: number } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && Object.hasOwn(errors, code);
}
