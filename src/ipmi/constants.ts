// IPMI v2.0 / RMCP+ numbers, in one place (IPMI v2.0 rev 1.1 spec section named beside each group).

/** RMCP header (section 13.1.3): version 6, no RMCP ACK (sequence 0xff), message class. */
export const RMCP_VERSION = 0x06;
export const RMCP_SEQ_NO_ACK = 0xff;
export const RMCP_CLASS_ASF = 0x06;
export const RMCP_CLASS_IPMI = 0x07;

/** Session header auth type / format (section 13.6). */
export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCPP = 0x06;

/** Payload types (table 13-16). Bit 7 = encrypted, bit 6 = authenticated. */
export const PAYLOAD = {
  IPMI: 0x00,
  SOL: 0x01,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;
export const PAYLOAD_ENCRYPTED = 0x80;
export const PAYLOAD_AUTHENTICATED = 0x40;

/** Next Header in the session trailer (section 13.28.4): always 0x07 (RMCP). */
export const NEXT_HEADER = 0x07;

/** Software IDs on the LAN channel (section 5.5): the BMC and the remote console. */
export const BMC_SA = 0x20;
export const REMOTE_CONSOLE_SWID = 0x81;

export const NETFN = { CHASSIS: 0x00, APP: 0x06 } as const;

export const CMD = {
  GET_DEVICE_ID: 0x01, // App
  GET_CHANNEL_AUTH_CAPABILITIES: 0x38, // App
  SET_SESSION_PRIVILEGE_LEVEL: 0x3b, // App
  CLOSE_SESSION: 0x3c, // App
  ACTIVATE_PAYLOAD: 0x48, // App
  DEACTIVATE_PAYLOAD: 0x49, // App
  GET_PAYLOAD_ACTIVATION_STATUS: 0x4a, // App
  GET_PAYLOAD_INSTANCE_INFO: 0x4b, // App
  GET_CHASSIS_STATUS: 0x01, // Chassis
  CHASSIS_CONTROL: 0x02, // Chassis
  SET_SYSTEM_BOOT_OPTIONS: 0x08, // Chassis
} as const;

/** Privilege levels (section 6.8). */
export const PRIVILEGE = { callback: 1, user: 2, operator: 3, administrator: 4, oem: 5 } as const;
export type Privilege = keyof typeof PRIVILEGE;

/** RAKP 1 "name-only lookup" bit (section 13.20): match the user by name, the privilege as a limit. */
export const RAKP_NAME_ONLY_LOOKUP = 0x10;

/** Completion codes (table 5-2), with the text an operator reads. */
export const COMPLETION_CODES: Readonly<Record<number, string>> = {
  0x00: 'command completed normally',
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation canceled or invalid reservation ID',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function has been disabled or is unavailable',
  0xff: 'unspecified error',
};

export function completionCodeText(code: number): string {
  return COMPLETION_CODES[code] ?? `completion code 0x${code.toString(16).padStart(2, '0')}`;
}

/** RMCP+ and RAKP message status codes (table 13-15). */
export const RMCP_STATUS = {
  OK: 0x00,
  INSUFFICIENT_RESOURCES: 0x01,
  INVALID_SESSION_ID: 0x02,
  INVALID_PAYLOAD_TYPE: 0x03,
  INVALID_AUTH_ALGORITHM: 0x04,
  INVALID_INTEGRITY_ALGORITHM: 0x05,
  NO_MATCHING_AUTH_PAYLOAD: 0x06,
  NO_MATCHING_INTEGRITY_PAYLOAD: 0x07,
  INACTIVE_SESSION_ID: 0x08,
  INVALID_ROLE: 0x09,
  UNAUTHORIZED_ROLE: 0x0a,
  INSUFFICIENT_RESOURCES_FOR_ROLE: 0x0b,
  INVALID_NAME_LENGTH: 0x0c,
  UNAUTHORIZED_NAME: 0x0d,
  UNAUTHORIZED_GUID: 0x0e,
  INVALID_INTEGRITY_CHECK_VALUE: 0x0f,
  INVALID_CONFIDENTIALITY_ALGORITHM: 0x10,
  NO_CIPHER_SUITE_MATCH: 0x11,
  ILLEGAL_PARAMETER: 0x12,
} as const;

export const RMCP_STATUS_TEXT: Readonly<Record<number, string>> = {
  0x00: 'no errors',
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export function rmcpStatusText(code: number): string {
  return RMCP_STATUS_TEXT[code] ?? `RMCP+ status 0x${code.toString(16).padStart(2, '0')}`;
}

/** Algorithm numbers (section 13.28). */
export const AUTH_ALG = { NONE: 0x00, HMAC_SHA1: 0x01, HMAC_MD5: 0x02, HMAC_SHA256: 0x03 } as const;
export const INTEGRITY_ALG = { NONE: 0x00, HMAC_SHA1_96: 0x01, HMAC_MD5_128: 0x02, MD5_128: 0x03, HMAC_SHA256_128: 0x04 } as const;
export const CONFIDENTIALITY_ALG = { NONE: 0x00, AES_CBC_128: 0x01 } as const;

export interface CipherSuite {
  id: number;
  auth: number;
  integrity: number;
  confidentiality: number;
  /** Node hash name for the authentication and integrity HMACs. */
  hash: 'sha1' | 'sha256';
  /** Bytes of RAKP 2/3 key exchange auth code (the full HMAC). */
  authCodeLength: number;
  /** Bytes of RAKP 4 integrity check value and of each packet's AuthCode (the truncated HMAC). */
  integrityLength: number;
}

/** The cipher suites we speak (table 22-20). */
export const CIPHER_SUITES: Readonly<Record<number, CipherSuite>> = {
  3: { id: 3, auth: AUTH_ALG.HMAC_SHA1, integrity: INTEGRITY_ALG.HMAC_SHA1_96, confidentiality: CONFIDENTIALITY_ALG.AES_CBC_128, hash: 'sha1', authCodeLength: 20, integrityLength: 12 },
  17: { id: 17, auth: AUTH_ALG.HMAC_SHA256, integrity: INTEGRITY_ALG.HMAC_SHA256_128, confidentiality: CONFIDENTIALITY_ALG.AES_CBC_128, hash: 'sha256', authCodeLength: 32, integrityLength: 16 },
};

/** Chassis Control data byte (section 28.3). */
export const CHASSIS_CONTROL = { down: 0x00, up: 0x01, cycle: 0x02, reset: 0x03, diag: 0x04, soft: 0x05 } as const;
export type ChassisControlAction = keyof typeof CHASSIS_CONTROL;

/** Boot device selector, bits 5:2 of boot flags data byte 2 (table 28-14, parameter 5). */
export const BOOT_DEVICE = { none: 0x0, pxe: 0x1, disk: 0x2, cdrom: 0x5, bios: 0x6 } as const;
export type BootDevice = keyof typeof BOOT_DEVICE;
export const BOOT_PARAM_BOOT_FLAGS = 0x05;

export const DEFAULT_PORT = 623;

/** Activate Payload completion codes (table 24-2), as an operator reads them. */
export const ACTIVATE_PAYLOAD_CC = {
  ALREADY_ACTIVE: 0x80,
  DISABLED: 0x81,
  LIMIT_REACHED: 0x82,
  CANNOT_ENCRYPT: 0x83,
  MUST_ENCRYPT: 0x84,
} as const;
export const ACTIVATE_PAYLOAD_CC_TEXT: Readonly<Record<number, string>> = {
  0x80: 'payload already active on another session',
  0x81: 'the SOL payload is disabled on this BMC',
  0x82: 'payload activation limit reached',
  0x83: 'the BMC cannot activate the payload with encryption',
  0x84: 'the BMC requires encryption for this payload',
};

/** Deactivate Payload completion code 0x80 (table 24-3): nothing was active. */
export const DEACTIVATE_PAYLOAD_NOT_ACTIVE = 0x80;

/** Activate Payload auxiliary data byte 1 for SOL (table 24-2). */
export const SOL_AUX = {
  ENCRYPT: 0x80,
  AUTHENTICATE: 0x40,
  /** Bits 3:2 = 01b: serial/modem alerts are deferred while SOL is active. */
  ALERTS_DEFERRED: 0x04,
  /** Bit 1: CTS/DCD/DSR stay deasserted until a packet asserts them (we leave this 0). */
  DEASSERT_HANDSHAKE: 0x02,
} as const;

/** SOL payload (section 15.9, table 15-2): 4 header bytes, then characters. */
export const SOL_HEADER_LENGTH = 4;
/** Packet sequence numbers run 1..15; 0 marks an ack-only packet (and "no ack" in the ack field). */
export const SOL_MAX_SEQUENCE = 15;

/** Operation byte, remote console to BMC (table 15-2). */
export const SOL_OP = {
  NACK: 0x40,
  RING_WOR: 0x20,
  /** Generate a BREAK on the serial line (300 ms). */
  BREAK: 0x10,
  CTS_PAUSE: 0x08,
  DROP_DCD_DSR: 0x04,
  FLUSH_INBOUND: 0x02,
  FLUSH_OUTBOUND: 0x01,
} as const;

/** Status byte, BMC to remote console (table 15-2). */
export const SOL_STATUS = {
  NACK: 0x40,
  /** The host's serial port is not available (e.g. powered off). */
  TRANSFER_UNAVAILABLE: 0x20,
  /** The BMC is ending the SOL payload. */
  DEACTIVATING: 0x10,
  TRANSMIT_OVERRUN: 0x08,
  BREAK_DETECTED: 0x04,
} as const;
