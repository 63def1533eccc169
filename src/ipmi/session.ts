// One RMCP+ session with one BMC: setup (Get Channel Auth Capabilities, Open Session, RAKP 1-4),
// then protected IPMI requests matched to responses by rqSeq, retransmitted on timeout, kept
// alive while idle, and closed with Close Session. Other payload types (SOL) travel through
// sendPayload()/onPayload(); their protocol lives elsewhere. The socket belongs to the transport.
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import {
  CIPHER_SUITES,
  CMD,
  DEFAULT_PORT,
  NETFN,
  PAYLOAD,
  PRIVILEGE,
  RAKP_NAME_ONLY_LOOKUP,
  RMCP_STATUS,
  type CipherSuite,
  type Privilege,
} from './constants.js';
import { decryptPayload, deriveKeys, encryptPayload, equalBytes, integrityCode, userKey, type SessionKeys } from './crypto.js';
import { IpmiError, ipmiErrors } from './errors.js';
import {
  buildIpmiRequest,
  buildRmcpHeader,
  buildV15Packet,
  buildV2Authenticated,
  buildV2Plain,
  parseIpmiResponse,
  parsePacket,
  type IpmiResponse,
} from './packets.js';
import {
  buildOpenSessionRequest,
  buildRakp1,
  buildRakp3,
  checkRakp2,
  checkRakp4,
  handshakeError,
  parseOpenSessionResponse,
  parseRakp2,
  parseRakp4,
  rakp3AuthCode,
  type HandshakeValues,
} from './rakp.js';
import { ReplayWindow } from './replay-window.js';
import { IpmiTransport, type TransportEndpoint } from './transport.js';

export interface IpmiSessionOptions {
  host: string;
  port?: number;
  user: string;
  password: string;
  /** 3 (HMAC-SHA1, AES) or 17 (HMAC-SHA256, AES). Default 3. */
  cipherSuite?: number;
  /** Default administrator. */
  privilege?: Privilege;
  /** Wait for one answer before sending again. Default 1000 ms. */
  timeoutMs?: number;
  /** Sends after the first. Default 3. */
  retries?: number;
  /** Idle interval between keepalive requests; 0 turns keepalive off. Default 30 s. */
  keepaliveMs?: number;
  /** Share one UDP socket among many sessions; by default the session has its own. */
  transport?: IpmiTransport;
}

/** What arrives for a session, after integrity check and decryption. */
type Inbound = { kind: 'v1.5'; message: Buffer } | { kind: 'v2.0'; payloadType: number; payload: Buffer };

type Waiter = (inbound: Inbound) => boolean;

/** Receives the (checked, decrypted) payloads of one non-IPMI payload type, e.g. SOL. */
export type PayloadHandler = (payload: Buffer) => void;

export function normalizePrivilege(p: string | undefined): Privilege {
  const name = (p ?? 'administrator').toLowerCase();
  if (!Object.hasOwn(PRIVILEGE, name)) throw ipmiErrors.BAD_ARGUMENT(`unknown IPMI privilege level '${p}' (use ${Object.keys(PRIVILEGE).join(', ')})`);
  return name as Privilege;
}

/**
 * Events: 'close' (reason: 'closed' after close(), or the IpmiError that ended it, e.g. a
 * keepalive nobody answered) once, when the session ends after a successful open().
 */
export class IpmiSession extends EventEmitter implements TransportEndpoint {
  readonly bmc: string;
  readonly port: number;
  readonly consoleSessionId: number;
  readonly suite: CipherSuite;
  readonly privilege: Privilege;
  address = '';
  bmcSessionId = 0;
  private state: 'setup' | 'active' | 'closed' = 'setup';
  private keys?: SessionKeys;
  private outboundSequence = 0;
  private nextRqSeq = 1;
  private readonly waiters = new Set<Waiter>();
  private readonly payloadHandlers = new Map<number, PayloadHandler>();
  private readonly replay = new ReplayWindow();
  private keepalive?: NodeJS.Timeout;
  private readonly transport: IpmiTransport;
  private readonly timeoutMs: number;
  private readonly retries: number;

  private constructor(private readonly opts: IpmiSessionOptions) {
    super();
    const suite = CIPHER_SUITES[opts.cipherSuite ?? 3];
    if (!suite) throw ipmiErrors.CIPHER_SUITE_UNKNOWN(opts.cipherSuite!);
    this.suite = suite;
    this.privilege = normalizePrivilege(opts.privilege);
    this.port = opts.port ?? DEFAULT_PORT;
    this.bmc = `${opts.host}:${this.port}`;
    this.transport = opts.transport ?? new IpmiTransport({ closeWhenIdle: true });
    this.consoleSessionId = this.transport.allocateSessionId();
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.retries = opts.retries ?? 3;
  }

  /** Resolve the BMC, run the RMCP+ handshake, and raise the session to the chosen privilege. */
  static async open(opts: IpmiSessionOptions): Promise<IpmiSession> {
    const session = new IpmiSession(opts);
    try {
      session.address = (await lookup(opts.host, { family: 4 })).address;
      await session.transport.attach(session);
      await session.handshake();
    } catch (err) {
      session.teardown();
      throw err;
    }
    return session;
  }

  get active(): boolean {
    return this.state === 'active';
  }

  /** Send one IPMI request in the session; resolves with the response data, throws on a non-zero completion code. */
  async request(netFn: number, cmd: number, data: Buffer = Buffer.alloc(0), action = `netFn 0x${netFn.toString(16)} cmd 0x${cmd.toString(16)}`): Promise<Buffer> {
    const res = await this.requestRaw(netFn, cmd, data, action);
    if (res.completionCode !== 0) throw ipmiErrors.COMPLETION(this.bmc, action, res.completionCode);
    return res.data;
  }

  /** Like request(), but hands back the completion code instead of throwing on it. */
  async requestRaw(netFn: number, cmd: number, data: Buffer, action: string): Promise<IpmiResponse> {
    if (this.state === 'closed') throw ipmiErrors.CLOSED(this.bmc, action);
    const rqSeq = this.allocateRqSeq();
    const message = buildIpmiRequest({ netFn, cmd, rqSeq, data });
    const res = await this.exchange(
      action,
      () => (this.state === 'active' ? this.protect(PAYLOAD.IPMI, message) : buildV15Packet(message)),
      (inbound) => {
        const msg = inbound.kind === 'v1.5' ? inbound.message : inbound.payloadType === PAYLOAD.IPMI ? inbound.payload : undefined;
        if (!msg) return undefined;
        let r: IpmiResponse;
        try {
          r = parseIpmiResponse(msg);
        } catch {
          return undefined;
        }
        return r.rqSeq === rqSeq && r.netFn === (netFn | 1) && r.cmd === cmd ? r : undefined;
      },
    );
    this.armKeepalive();
    return res;
  }

  /** Send one protected (authenticated, encrypted) packet of a payload type; no answer is awaited. */
  async sendPayload(payloadType: number, data: Buffer): Promise<void> {
    if (this.state !== 'active') throw ipmiErrors.CLOSED(this.bmc, `sending payload type 0x${payloadType.toString(16)}`);
    await this.transport.send(this.protect(payloadType, data), this.address, this.port);
  }

  /** Route inbound packets of a payload type (not IPMI: responses go to their requests) to a handler. */
  onPayload(payloadType: number, handler: PayloadHandler): () => void {
    if (payloadType === PAYLOAD.IPMI) throw ipmiErrors.BAD_ARGUMENT('IPMI responses are matched to requests, not handled by payload type');
    if (this.payloadHandlers.has(payloadType)) throw ipmiErrors.BAD_ARGUMENT(`payload type 0x${payloadType.toString(16)} already has a handler on this session`);
    this.payloadHandlers.set(payloadType, handler);
    return () => {
      if (this.payloadHandlers.get(payloadType) === handler) this.payloadHandlers.delete(payloadType);
    };
  }

  /** Close Session (best effort: one try), then let go of the transport. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'active') {
      const id = Buffer.alloc(4);
      id.writeUInt32LE(this.bmcSessionId >>> 0);
      try {
        await this.exchangeOnce('Close Session', this.protect(PAYLOAD.IPMI, buildIpmiRequest({ netFn: NETFN.APP, cmd: CMD.CLOSE_SESSION, rqSeq: this.allocateRqSeq(), data: id })));
      } catch { /* the BMC drops idle sessions by itself */ }
    }
    this.teardown();
    this.emit('close', 'closed');
  }

  /** Called by the transport with each datagram for this session. */
  receive(datagram: Buffer): void {
    let inbound: Inbound;
    try {
      const pkt = parsePacket(datagram, this.state === 'active' ? this.suite.integrityLength : 0);
      if (pkt.format === 'v1.5') inbound = { kind: 'v1.5', message: pkt.message };
      else {
        let payload = pkt.payload;
        if (this.state === 'active' && this.keys) {
          // Once active, only protected packets count: anything else could be spoofed.
          if (!pkt.authenticated || !pkt.signed || !pkt.authCode) return;
          if (!equalBytes(integrityCode(this.suite, this.keys.k1, pkt.signed), pkt.authCode)) return;
          if (!this.replay.accept(pkt.sequence)) return;
          if (pkt.encrypted) payload = decryptPayload(this.keys.k2, payload);
        }
        inbound = { kind: 'v2.0', payloadType: pkt.payloadType, payload };
      }
    } catch {
      return; // garbage on the wire is not our caller's problem; the request times out if it mattered
    }
    if (inbound.kind === 'v2.0' && inbound.payloadType !== PAYLOAD.IPMI && this.state === 'active') {
      this.payloadHandlers.get(inbound.payloadType)?.(inbound.payload);
      return;
    }
    for (const waiter of this.waiters) if (waiter(inbound)) return;
  }

  private async handshake(): Promise<void> {
    const user = Buffer.from(this.opts.user, 'utf8');
    const kuid = userKey(this.opts.password);
    const privilege = PRIVILEGE[this.privilege];

    // 1. Does the BMC speak IPMI v2.0? (section 22.13; bit 7 of the channel byte asks for v2.0 data)
    const caps = await this.requestRaw(NETFN.APP, CMD.GET_CHANNEL_AUTH_CAPABILITIES, Buffer.from([0x8e, privilege]), 'Get Channel Authentication Capabilities');
    if (caps.completionCode === 0 && caps.data.length >= 4 && (!(caps.data[1]! & 0x80) || !(caps.data[3]! & 0x02))) throw ipmiErrors.NO_RMCPP(this.bmc);

    const fail = (step: string, status: number) =>
      handshakeError({ bmc: this.bmc, step, status, user: this.opts.user, suite: this.suite.id, privilege: this.privilege });

    // 2. Open Session: propose the cipher suite's three algorithms.
    const tag = randomBytes(1)[0]!;
    const open = await this.exchange(
      'Open Session',
      () => buildV2Plain(PAYLOAD.OPEN_SESSION_REQUEST, buildOpenSessionRequest({ tag, privilege, consoleSessionId: this.consoleSessionId, suite: this.suite })),
      (i) => (i.kind === 'v2.0' && i.payloadType === PAYLOAD.OPEN_SESSION_RESPONSE ? parseOpenSessionResponse(i.payload) : undefined),
    );
    if (open.status !== RMCP_STATUS.OK) throw fail('Open Session', open.status);
    if (open.auth !== this.suite.auth || open.integrity !== this.suite.integrity || open.confidentiality !== this.suite.confidentiality) {
      throw ipmiErrors.CIPHER_SUITE_UNSUPPORTED(this.bmc, this.suite.id, RMCP_STATUS.NO_CIPHER_SUITE_MATCH);
    }
    this.bmcSessionId = open.bmcSessionId;

    // 3. RAKP 1 / 2: exchange random numbers; the BMC proves it knows the password.
    const v: HandshakeValues = {
      consoleSessionId: this.consoleSessionId,
      bmcSessionId: open.bmcSessionId,
      rm: randomBytes(16),
      rc: Buffer.alloc(0),
      guid: Buffer.alloc(0),
      role: privilege | RAKP_NAME_ONLY_LOOKUP,
      user,
    };
    const rakp2 = await this.exchange(
      'RAKP 1',
      () => buildV2Plain(PAYLOAD.RAKP1, buildRakp1({ tag, bmcSessionId: v.bmcSessionId, rm: v.rm, role: v.role, user })),
      (i) => (i.kind === 'v2.0' && i.payloadType === PAYLOAD.RAKP2 ? parseRakp2(i.payload) : undefined),
    );
    if (rakp2.status !== RMCP_STATUS.OK) throw fail('RAKP 2', rakp2.status);
    v.rc = rakp2.rc;
    v.guid = rakp2.guid;
    if (!checkRakp2(this.suite, kuid, v, rakp2.authCode)) {
      // Tell the BMC to drop the half-open session (it limits sessions per user).
      await this.transport.send(
        buildV2Plain(PAYLOAD.RAKP3, buildRakp3({ tag, status: RMCP_STATUS.INVALID_INTEGRITY_CHECK_VALUE, bmcSessionId: v.bmcSessionId, authCode: Buffer.alloc(0) })),
        this.address,
        this.port,
      );
      throw ipmiErrors.WRONG_PASSWORD(this.bmc, this.opts.user);
    }

    // 4. RAKP 3 / 4: we prove we know the password; both sides derive SIK, K1, K2.
    this.keys = deriveKeys(this.suite, kuid, { rm: v.rm, rc: v.rc, role: v.role, user });
    const rakp4 = await this.exchange(
      'RAKP 3',
      () => buildV2Plain(PAYLOAD.RAKP3, buildRakp3({ tag, status: 0, bmcSessionId: v.bmcSessionId, authCode: rakp3AuthCode(this.suite, kuid, v) })),
      (i) => (i.kind === 'v2.0' && i.payloadType === PAYLOAD.RAKP4 ? parseRakp4(i.payload) : undefined),
    );
    if (rakp4.status !== RMCP_STATUS.OK) throw fail('RAKP 4', rakp4.status);
    if (!checkRakp4(this.suite, this.keys.sik, v, rakp4.icv)) throw ipmiErrors.BMC_INTEGRITY(this.bmc, 'RAKP 4');

    this.state = 'active';
    // Sessions start at User level; raise to what was asked for (section 22.18).
    if (privilege > PRIVILEGE.user) {
      await this.request(NETFN.APP, CMD.SET_SESSION_PRIVILEGE_LEVEL, Buffer.from([privilege]), `Set Session Privilege Level ${this.privilege}`);
    }
    this.armKeepalive();
  }

  /** Build an authenticated, encrypted packet with the next session sequence number. */
  private protect(payloadType: number, data: Buffer): Buffer {
    const keys = this.keys!;
    this.outboundSequence = (this.outboundSequence + 1) >>> 0 || 1; // 0 is reserved for session-less packets
    const signed = buildV2Authenticated(
      { payloadType, encrypted: true, authenticated: true, sessionId: this.bmcSessionId, sequence: this.outboundSequence },
      encryptPayload(keys.k2, data),
    );
    return Buffer.concat([buildRmcpHeader(), signed, integrityCode(this.suite, keys.k1, signed)]);
  }

  private allocateRqSeq(): number {
    const seq = this.nextRqSeq;
    this.nextRqSeq = (this.nextRqSeq % 63) + 1;
    return seq;
  }

  /** Send, and send again every timeoutMs (rebuilding: new session sequence) until `accept` takes an answer. */
  private exchange<T>(action: string, build: () => Buffer, accept: (i: Inbound) => T | undefined, retries = this.retries): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        this.off('teardown', onTeardown);
        fn();
      };
      const waiter: Waiter = (inbound) => {
        let value: T | undefined;
        try {
          value = accept(inbound);
        } catch (err) {
          finish(() => reject(err));
          return true;
        }
        if (value === undefined) return false;
        finish(() => resolve(value));
        return true;
      };
      const onTeardown = () => finish(() => reject(ipmiErrors.CLOSED(this.bmc, action)));
      const send = () => {
        if (tries > retries) {
          finish(() => reject(ipmiErrors.TIMEOUT(this.bmc, action, tries, tries * this.timeoutMs)));
          return;
        }
        tries++;
        this.transport.send(build(), this.address, this.port).catch(() => { /* counted as a lost try */ });
        timer = setTimeout(send, this.timeoutMs);
      };
      this.waiters.add(waiter);
      this.once('teardown', onTeardown);
      send();
    });
  }

  private async exchangeOnce(action: string, datagram: Buffer): Promise<void> {
    await this.exchange(action, () => datagram, (i) => (i.kind === 'v2.0' && i.payloadType === PAYLOAD.IPMI ? true : undefined), 0);
  }

  private armKeepalive(): void {
    const every = this.opts.keepaliveMs ?? 30_000;
    clearTimeout(this.keepalive);
    if (!every || this.state !== 'active') return;
    this.keepalive = setTimeout(() => {
      this.request(NETFN.APP, CMD.GET_DEVICE_ID, Buffer.alloc(0), 'keepalive (Get Device ID)').catch((err: IpmiError) => {
        if (this.state === 'closed') return;
        this.teardown();
        this.emit('close', err);
      });
    }, every);
    this.keepalive.unref();
  }

  private teardown(): void {
    clearTimeout(this.keepalive);
    this.state = 'closed';
    this.payloadHandlers.clear();
    this.emit('teardown');
    this.transport.detach(this);
  }
}
