export type { ConsoleDriver, ConsoleDriverDefinition, DriverContext } from './types.js';
export { DriverRegistry, SECRET_MASK } from './registry.js';
import { cmdDriver } from './cmd.js';
import { ipmiSolDriver } from './ipmi-sol.js';
import { ipmitoolSolDriver } from './ipmitool-sol.js';
import { sshDriver } from './ssh.js';
import { DriverRegistry } from './registry.js';
import type { ConsoleDriverDefinition } from './types.js';
import { tcpDriver } from './tcp.js';
import { telnetDriver } from './telnet.js';

/** Every console driver this build knows. */
export function builtinDrivers(): DriverRegistry<ConsoleDriverDefinition> {
  return new DriverRegistry([cmdDriver, sshDriver, telnetDriver, tcpDriver, ipmiSolDriver, ipmitoolSolDriver]);
}
