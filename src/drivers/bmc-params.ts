// The params that name a BMC and log in to it, shared by the IPMI console drivers (ipmi-sol,
// ipmitool-sol) and power drivers (ipmi, ipmitool), so one node's console and power agree.
import { Type, type Static } from '@sinclair/typebox';
import type { IpmiSessionOptions } from '../ipmi/index.js';
import { hostParam, portParam } from './net.js';

export const IPMI_DEFAULT_PORT = 623;

export const bmcParamProperties = {
  host: hostParam,
  port: Type.Optional(portParam(IPMI_DEFAULT_PORT)),
  user: Type.String({ maxLength: 16, description: 'BMC user (IPMI allows 16 bytes)' }),
  password: Type.String({ maxLength: 20, description: 'BMC password (IPMI v2.0 allows 20 bytes); never shown' }),
  cipherSuite: Type.Optional(Type.Union([Type.Literal(3), Type.Literal(17)], { default: 3, description: '3: HMAC-SHA1 + AES-128; 17: HMAC-SHA256 + AES-128' })),
  privilege: Type.Optional(
    Type.Union([Type.Literal('user'), Type.Literal('operator'), Type.Literal('administrator')], { default: 'administrator', description: 'privilege level asked for' }),
  ),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000, default: 1000, description: 'wait this long for each answer before sending again' })),
};

export const BmcParams = Type.Object(bmcParamProperties, { additionalProperties: false });
export type BmcParams = Static<typeof BmcParams>;

export const BMC_SECRET_PARAMS = ['password'] as const;

/** Retries ipmitool makes (-R) after the first try of each request. */
export const IPMITOOL_RETRIES = 3;

/** The ipmitool arguments that reach a BMC (everything before the command); no password. */
export function ipmitoolArgs(p: BmcParams): string[] {
  const seconds = Math.max(1, Math.ceil((p.timeoutMs ?? 1000) / 1000));
  return [
    '-I', 'lanplus',
    '-H', p.host,
    '-p', String(p.port ?? IPMI_DEFAULT_PORT),
    '-U', p.user,
    '-E',
    '-C', String(p.cipherSuite ?? 3),
    '-L', (p.privilege ?? 'administrator').toUpperCase(),
    '-N', String(seconds),
    '-R', String(IPMITOOL_RETRIES),
  ];
}

/** How the native library is told about a BMC: the params with their defaults filled in. */
export function ipmiSessionOptions(p: BmcParams): Pick<IpmiSessionOptions, 'host' | 'port' | 'user' | 'password' | 'cipherSuite' | 'privilege' | 'timeoutMs'> {
  return {
    host: p.host,
    port: p.port ?? IPMI_DEFAULT_PORT,
    user: p.user,
    password: p.password,
    cipherSuite: p.cipherSuite ?? 3,
    privilege: p.privilege ?? 'administrator',
    timeoutMs: p.timeoutMs ?? 1000,
  };
}
