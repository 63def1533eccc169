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
export { IpmiSession, type IpmiSessionOptions, type PayloadHandler } from './session.js';
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
export {
  buildActivatePayload,
  buildDeactivatePayload,
  buildSolPacket,
  deactivateSol,
  getSolActivationStatus,
  parseActivatePayloadResponse,
  parsePayloadActivationStatus,
  parsePayloadInstanceInfo,
  parseSolPacket,
  SolConsole,
  type PayloadActivationStatus,
  type PayloadCarrier,
  type SolActivation,
  type SolConsoleOptions,
  type SolPacket,
} from './sol.js';
