// The face of the native IPMI v2.0 / RMCP+ library: drivers import from here, never from the files behind it.
export {
  CIPHER_SUITES,
  completionCodeText,
  rmcpStatusText,
  type BootDevice,
  type ChassisControlAction,
  type CipherSuite,
  type Privilege,
} from './constants.js';
export { IpmiError } from './errors.js';
export { IpmiSession, type IpmiSessionOptions } from './session.js';
export { IpmiTransport } from './transport.js';
export {
  chassisControl,
  getChassisStatus,
  getDeviceId,
  getPowerState,
  setBootDevice,
  type BootOptions,
  type ChassisStatus,
  type DeviceId,
  type PowerState,
} from './chassis.js';
