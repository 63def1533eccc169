// The power driver contract: one-shot operations on one node's power controller (a BMC).
import type { Logger } from 'pino';
import type { DriverDefinition } from '../drivers/types.js';

export type PowerState = 'on' | 'off';
/** on, off (hard), cycle (off then on), reset (hard), soft (ACPI shutdown request). */
export const POWER_ACTIONS = ['on', 'off', 'cycle', 'reset', 'soft'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];
export const BOOT_DEVICES = ['pxe', 'disk', 'cdrom', 'bios', 'none'] as const;
export type BootDeviceName = (typeof BOOT_DEVICES)[number];

export interface BootDeviceOptions {
  /** Every boot from now on; otherwise the next boot only. */
  persistent: boolean;
  /** Boot that device in UEFI mode. */
  efi: boolean;
}

/** Each call is one whole conversation with the controller: connect, act, disconnect. */
export interface PowerDriver {
  status(): Promise<PowerState>;
  control(action: PowerAction): Promise<void>;
  setBootDevice(device: BootDeviceName, opts: BootDeviceOptions): Promise<void>;
}

export interface PowerContext {
  node: string;
  logger: Logger;
}

export interface PowerDriverDefinition<P = Record<string, unknown>> extends DriverDefinition<P> {
  /**
   * Console drivers whose params this power driver can take its own from, when the node's
   * power config has no params (an `ipmi-sol` console and `ipmi` power talk to one BMC).
   */
  sharesParamsWith: readonly string[];
  create(params: P, ctx: PowerContext): PowerDriver;
}

/** The controller did not answer in time (as opposed to answering "no"). */
export class PowerTimeoutError extends Error {
  override name = 'PowerTimeoutError';
}
