// The face of power control: the drivers this build knows and the service that runs them.
export { PowerService, resolvePower, type KnownPower, type PowerActionEvent, type PowerRegistry } from './service.js';
export * from './types.js';
export { PowerPoller } from './poller.js';
import { DriverRegistry } from '../drivers/registry.js';
import { ipmiPowerDriver } from './ipmi.js';
import { ipmitoolPowerDriver } from './ipmitool.js';
import type { PowerDriverDefinition } from './types.js';

export function builtinPowerDrivers(): DriverRegistry<PowerDriverDefinition> {
  return new DriverRegistry<PowerDriverDefinition>([ipmiPowerDriver, ipmitoolPowerDriver], 'power');
}
