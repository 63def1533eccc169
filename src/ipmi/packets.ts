// Pure packet build/parse over Buffers: RMCP header, IPMI 1.5 and 2.0 session wrappers, and the
// IPMI LAN message with its checksums. No sockets, no crypto keys (see crypto.ts for protection).
import {
  AUTH_TYPE_NONE,
  AUTH_TYPE_RMCPP,
  BMC_SA,
  NEXT_HEADER,
  PAYLOAD_AUTHENTICATED,
  PAYLOAD_ENCRYPTED,
  REMOTE_CONSOLE_SWID,
  RMCP_CLASS_IPMI,
  RMCP_SEQ_NO_ACK,
  RMCP_VERSION,
} from './constants.js';
import { ipmiErrors } from './errors.js';

export const RMCP_HEADER_LENGTH = 4;

/** RMCP header (section 13.1.3) for an IPMI class message that wants no RMCP ACK. */
export function buildRmcpHeader(): Buffer {
  return Buffer.from([RMCP_VERSION, 0x00, RMCP_SEQ_NO_ACK, RMCP_CLASS_IPMI]);
}

export function parseRmcpHeader(buf: Buffer): { version: number; sequence: number; messageClass: number } {
  if (buf.length < RMCP_HEADER_LENGTH || buf[0] !== RMCP_VERSION) throw ipmiErrors.MALFORMED('RMCP header');
  return { version: buf[0]!, sequence: buf[2]!, messageClass: buf[3]! & 0x1f };
}

/** 8-bit two's complement checksum (section 13.8): the bytes plus it sum to zero. */
export function checksum(bytes: Buffer): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** Requester sequence, 6 bits: how a response finds its request. */
  rqSeq: number;
  data?: Buffer;
  rsAddr?: number;
  rsLun?: number;
}

/** IPMI LAN request message (section 13.8): rsSA, netFn/LUN, cks, rqSA, rqSeq/LUN, cmd, data, cks. */
export function buildIpmiRequest(req: IpmiRequest): Buffer {
  const data = req.data ?? Buffer.alloc(0);
  const head = Buffer.from([req.rsAddr ?? BMC_SA, ((req.netFn & 0x3f) << 2) | ((req.rsLun ?? 0) & 3)]);
  const body = Buffer.concat([Buffer.from([REMOTE_CONSOLE_SWID, (req.rqSeq & 0x3f) << 2, req.cmd]), data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Buffer;
}

/** IPMI LAN response message: rqSA, netFn/LUN, cks, rsSA, rqSeq/LUN, cmd, completion code, data, cks. */
export function parseIpmiResponse(msg: Buffer): IpmiResponse {
  if (msg.length < 8) throw ipmiErrors.MALFORMED(`IPMI response (${msg.length} bytes)`);
  if (checksum(msg.subarray(0, 2)) !== msg[2]) throw ipmiErrors.MALFORMED('IPMI response (header checksum)');
  if (checksum(msg.subarray(3, msg.length - 1)) !== msg[msg.length - 1]) throw ipmiErrors.MALFORMED('IPMI response (data checksum)');
  return {
    netFn: msg[1]! >> 2,
    rqSeq: msg[4]! >> 2,
    cmd: msg[5]!,
    completionCode: msg[6]!,
    data: Buffer.from(msg.subarray(7, msg.length - 1)),
  };
}

/**
 * IPMI 1.5 session wrapper with auth type NONE (section 13.6), used before any session exists
 * (Get Channel Authentication Capabilities): auth type, sequence, session ID, length, message.
 */
export function buildV15Packet(message: Buffer): Buffer {
  const wrapper = Buffer.alloc(10);
  wrapper[0] = AUTH_TYPE_NONE; // sequence 0 and session ID 0 stay zero
  wrapper[9] = message.length;
  return Buffer.concat([buildRmcpHeader(), wrapper, message]);
}

export interface V2Header {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
}

/** IPMI 2.0 session header (table 13-8) without the OEM fields: 12 bytes from Auth Type. */
export const V2_HEADER_LENGTH = 12;

export function buildV2Header(h: V2Header, payloadLength: number): Buffer {
  const b = Buffer.alloc(V2_HEADER_LENGTH);
  b[0] = AUTH_TYPE_RMCPP;
  b[1] = (h.payloadType & 0x3f) | (h.encrypted ? PAYLOAD_ENCRYPTED : 0) | (h.authenticated ? PAYLOAD_AUTHENTICATED : 0);
  b.writeUInt32LE(h.sessionId >>> 0, 2);
  b.writeUInt32LE(h.sequence >>> 0, 6);
  b.writeUInt16LE(payloadLength, 10);
  return b;
}

/** Integrity pad (section 13.28.4): 0xff bytes so Auth Type .. Next Header is a multiple of 4. */
export function integrityPad(headerAndPayloadLength: number): Buffer {
  return Buffer.alloc((4 - ((headerAndPayloadLength + 2) % 4)) % 4, 0xff);
}

/**
 * The bytes an IPMI 2.0 packet's AuthCode covers (Auth Type through Next Header), given the
 * session header and the (already encrypted) payload; the caller appends the AuthCode.
 */
export function buildV2Authenticated(h: V2Header, payload: Buffer): Buffer {
  const header = buildV2Header({ ...h, authenticated: true }, payload.length);
  const pad = integrityPad(header.length + payload.length);
  return Buffer.concat([header, payload, pad, Buffer.from([pad.length, NEXT_HEADER])]);
}

/** An unauthenticated IPMI 2.0 packet (session setup payloads), RMCP header included. */
export function buildV2Plain(payloadType: number, payload: Buffer, sessionId = 0, sequence = 0): Buffer {
  const header = buildV2Header({ payloadType, encrypted: false, authenticated: false, sessionId, sequence }, payload.length);
  return Buffer.concat([buildRmcpHeader(), header, payload]);
}

export type ParsedPacket =
  | { format: 'v1.5'; sessionId: number; sequence: number; message: Buffer }
  | (V2Header & {
      format: 'v2.0';
      payload: Buffer;
      /** Auth Type .. Next Header, what the AuthCode covers (authenticated packets only). */
      signed?: Buffer;
      authCode?: Buffer;
    });

/** Split a datagram into session fields and payload; `authCodeLength` says how long a trailer's AuthCode is. */
export function parsePacket(buf: Buffer, authCodeLength = 0): ParsedPacket {
  const rmcp = parseRmcpHeader(buf);
  if (rmcp.messageClass !== RMCP_CLASS_IPMI) throw ipmiErrors.MALFORMED(`RMCP message class ${rmcp.messageClass}`);
  const s = buf.subarray(RMCP_HEADER_LENGTH);
  if (s.length < 1) throw ipmiErrors.MALFORMED('session header');
  if (s[0] !== AUTH_TYPE_RMCPP) {
    const withCode = s[0] !== AUTH_TYPE_NONE;
    const lenAt = withCode ? 25 : 9;
    if (s.length < lenAt + 1) throw ipmiErrors.MALFORMED('IPMI 1.5 session header');
    const len = s[lenAt]!;
    if (s.length < lenAt + 1 + len) throw ipmiErrors.MALFORMED('IPMI 1.5 message length');
    return { format: 'v1.5', sequence: s.readUInt32LE(1), sessionId: s.readUInt32LE(5), message: Buffer.from(s.subarray(lenAt + 1, lenAt + 1 + len)) };
  }
  if (s.length < V2_HEADER_LENGTH) throw ipmiErrors.MALFORMED('IPMI 2.0 session header');
  const typeByte = s[1]!;
  if ((typeByte & 0x3f) === 0x02) throw ipmiErrors.MALFORMED('OEM payload (not supported)');
  const header: V2Header = {
    payloadType: typeByte & 0x3f,
    encrypted: (typeByte & PAYLOAD_ENCRYPTED) !== 0,
    authenticated: (typeByte & PAYLOAD_AUTHENTICATED) !== 0,
    sessionId: s.readUInt32LE(2),
    sequence: s.readUInt32LE(6),
  };
  const len = s.readUInt16LE(10);
  if (s.length < V2_HEADER_LENGTH + len) throw ipmiErrors.MALFORMED('IPMI 2.0 payload length');
  const payload = Buffer.from(s.subarray(V2_HEADER_LENGTH, V2_HEADER_LENGTH + len));
  if (!header.authenticated) return { format: 'v2.0', ...header, payload };
  const end = s.length - authCodeLength;
  if (end < V2_HEADER_LENGTH + len + 2 || s[end - 1] !== NEXT_HEADER) throw ipmiErrors.MALFORMED('IPMI 2.0 session trailer');
  return { format: 'v2.0', ...header, payload, signed: Buffer.from(s.subarray(0, end)), authCode: Buffer.from(s.subarray(end)) };
}
