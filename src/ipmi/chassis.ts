// Chassis and device commands over an IpmiSession (IPMI v2.0 sections 20.1, 28.2, 28.3, 28.12):
// parsing and request data are pure functions; the async ones are one request each.
import { BOOT_DEVICE, BOOT_PARAM_BOOT_FLAGS, CHASSIS_CONTROL, CMD, NETFN, type BootDevice, type ChassisControlAction } from './constants.js';
import { ipmiErrors } from './errors.js';
import type { IpmiSession } from './session.js';

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  /** As ipmitool prints it, e.g. "8.02". */
  firmwareRevision: string;
  /** e.g. "2.0". */
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
  deviceAvailable: boolean;
}

/** Get Device ID response data after the completion code (table 20-2). */
export function parseDeviceId(d: Buffer): DeviceId {
  if (d.length < 11) throw ipmiErrors.MALFORMED(`Get Device ID response (${d.length} bytes)`);
  return {
    deviceId: d[0]!,
    deviceRevision: d[1]! & 0x0f,
    firmwareRevision: `${d[2]! & 0x7f}.${d[3]!.toString(16).padStart(2, '0')}`,
    ipmiVersion: `${d[4]! & 0x0f}.${d[4]! >> 4}`,
    manufacturerId: d[6]! | (d[7]! << 8) | (d[8]! << 16),
    productId: d.readUInt16LE(9),
    deviceAvailable: (d[2]! & 0x80) === 0,
  };
}

export type PowerState = 'on' | 'off';

export interface ChassisStatus {
  power: PowerState;
  powerOverload: boolean;
  powerInterlock: boolean;
  powerFault: boolean;
  powerControlFault: boolean;
  /** Byte 2 of the response: the last power event flags. */
  lastPowerEvent: number;
}

/** Get Chassis Status response data (table 28-3). */
export function parseChassisStatus(d: Buffer): ChassisStatus {
  if (d.length < 3) throw ipmiErrors.MALFORMED(`Get Chassis Status response (${d.length} bytes)`);
  const s = d[0]!;
  return {
    power: s & 0x01 ? 'on' : 'off',
    powerOverload: (s & 0x02) !== 0,
    powerInterlock: (s & 0x04) !== 0,
    powerFault: (s & 0x08) !== 0,
    powerControlFault: (s & 0x10) !== 0,
    lastPowerEvent: d[1]!,
  };
}

export interface BootOptions {
  /** Keep for all future boots; otherwise next boot only. */
  persistent?: boolean;
  /** Boot the device in EFI mode instead of legacy BIOS. */
  efi?: boolean;
}

/** Set System Boot Options request data for parameter 5, boot flags (table 28-14). */
export function buildBootFlags(device: BootDevice, opts: BootOptions = {}): Buffer {
  if (!Object.hasOwn(BOOT_DEVICE, device)) throw ipmiErrors.BAD_ARGUMENT(`unknown boot device '${device}' (use ${Object.keys(BOOT_DEVICE).join(', ')})`);
  const flags = 0x80 | (opts.persistent ? 0x40 : 0) | (opts.efi ? 0x20 : 0); // bit 7: flags valid
  return Buffer.from([BOOT_PARAM_BOOT_FLAGS, flags, BOOT_DEVICE[device] << 2, 0x00, 0x00, 0x00]);
}

export async function getDeviceId(s: IpmiSession): Promise<DeviceId> {
  return parseDeviceId(await s.request(NETFN.APP, CMD.GET_DEVICE_ID, Buffer.alloc(0), 'Get Device ID'));
}

export async function getChassisStatus(s: IpmiSession): Promise<ChassisStatus> {
  return parseChassisStatus(await s.request(NETFN.CHASSIS, CMD.GET_CHASSIS_STATUS, Buffer.alloc(0), 'Get Chassis Status'));
}

export async function getPowerState(s: IpmiSession): Promise<PowerState> {
  return (await getChassisStatus(s)).power;
}

export async function chassisControl(s: IpmiSession, action: ChassisControlAction): Promise<void> {
  if (!Object.hasOwn(CHASSIS_CONTROL, action)) throw ipmiErrors.BAD_ARGUMENT(`unknown chassis control '${action}' (use ${Object.keys(CHASSIS_CONTROL).join(', ')})`);
  await s.request(NETFN.CHASSIS, CMD.CHASSIS_CONTROL, Buffer.from([CHASSIS_CONTROL[action]]), `Chassis Control ${action}`);
}

export async function setBootDevice(s: IpmiSession, device: BootDevice, opts: BootOptions = {}): Promise<void> {
  await s.request(NETFN.CHASSIS, CMD.SET_SYSTEM_BOOT_OPTIONS, buildBootFlags(device, opts), `Set Boot Device ${device}`);
}
