// Every error the IPMI library raises on purpose, in one catalogue: a code and a message.
// Callers (drivers, API) read `code`; the message names the BMC and the action.
import { ACTIVATE_PAYLOAD_CC_TEXT, completionCodeText, rmcpStatusText } from './constants.js';

export class IpmiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail: { completionCode?: number; status?: number } = {},
  ) {
    super(message);
    this.name = 'IpmiError';
  }
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

export const ipmiErrors = {
  MALFORMED: (what: string) => new IpmiError('IPMI_MALFORMED', `malformed ${what}`),
  TIMEOUT: (bmc: string, action: string, tries: number, ms: number) =>
    new IpmiError('IPMI_TIMEOUT', `${bmc}: no answer to ${action} after ${tries} tries (${ms} ms)`),
  CLOSED: (bmc: string, action: string) => new IpmiError('IPMI_SESSION_CLOSED', `${bmc}: session closed before ${action} completed`),
  WRONG_USER: (bmc: string, user: string) =>
    new IpmiError('IPMI_AUTH_UNKNOWN_USER', `${bmc}: authentication failed: the BMC does not know user '${user}'`, { status: 0x0d }),
  WRONG_PASSWORD: (bmc: string, user: string) =>
    new IpmiError('IPMI_AUTH_WRONG_PASSWORD', `${bmc}: authentication failed: wrong password for user '${user}'`),
  PRIVILEGE_REFUSED: (bmc: string, user: string, privilege: string, status: number) =>
    new IpmiError('IPMI_AUTH_PRIVILEGE', `${bmc}: authentication failed: user '${user}' may not have ${privilege} privilege (${rmcpStatusText(status)})`, { status }),
  CIPHER_SUITE_UNSUPPORTED: (bmc: string, suite: number, status: number) =>
    new IpmiError('IPMI_CIPHER_SUITE_UNSUPPORTED', `${bmc}: the BMC does not support cipher suite ${suite} (${rmcpStatusText(status)})`, { status }),
  CIPHER_SUITE_UNKNOWN: (suite: number) =>
    new IpmiError('IPMI_CIPHER_SUITE_UNKNOWN', `cipher suite ${suite} is not implemented (use 3 or 17)`),
  RMCP_STATUS: (bmc: string, step: string, status: number) =>
    new IpmiError('IPMI_RMCP_STATUS', `${bmc}: ${step} refused: ${rmcpStatusText(status)} (${hex(status)})`, { status }),
  BMC_INTEGRITY: (bmc: string, step: string) =>
    new IpmiError('IPMI_BMC_INTEGRITY', `${bmc}: ${step}: the BMC's integrity check value does not match`),
  NO_RMCPP: (bmc: string) => new IpmiError('IPMI_NO_RMCPP', `${bmc}: the BMC does not support IPMI v2.0 / RMCP+`),
  COMPLETION: (bmc: string, action: string, code: number) =>
    new IpmiError('IPMI_COMPLETION_CODE', `${bmc}: ${action} failed: ${completionCodeText(code)} (${hex(code)})`, { completionCode: code }),
  BAD_ARGUMENT: (what: string) => new IpmiError('IPMI_BAD_ARGUMENT', what),
  SOL_BUSY: (bmc: string, instance: number) =>
    new IpmiError(
      'IPMI_SOL_BUSY',
      `${bmc}: SOL instance ${instance} is already active on another session (another console client holds it); ` +
        'end that client (ipmitool: sol deactivate) or open this console with takeOver: true to take it over',
      { completionCode: 0x80 },
    ),
  SOL_REFUSED: (bmc: string, code: number) =>
    new IpmiError('IPMI_SOL_REFUSED', `${bmc}: Activate Payload (SOL) refused: ${ACTIVATE_PAYLOAD_CC_TEXT[code] ?? completionCodeText(code)} (${hex(code)})`, { completionCode: code }),
  SOL_PORT: (bmc: string, port: number) =>
    new IpmiError('IPMI_SOL_PORT', `${bmc}: the BMC wants SOL traffic on UDP port ${port}, apart from the session; that is not supported`),
  SOL_TIMEOUT: (bmc: string, tries: number, ms: number) =>
    new IpmiError('IPMI_SOL_TIMEOUT', `${bmc}: SOL: console input not acknowledged after ${tries} tries (${ms} ms); the console is dead`),
  SOL_DEACTIVATED: (bmc: string, why: string) => new IpmiError('IPMI_SOL_DEACTIVATED', `${bmc}: SOL deactivated: ${why}`),
} as const;
