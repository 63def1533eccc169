// `ipmi`: power and boot device over the native RMCP+ library, one short session per operation,
// all sessions on one UDP socket.
import { BmcParams, BMC_SECRET_PARAMS, ipmiSessionOptions } from '../drivers/bmc-params.js';
import { chassisControl, getPowerState, IpmiError, IpmiSession, IpmiTransport, setBootDevice, type ChassisControlAction } from '../ipmi/index.js';
import { PowerTimeoutError, type PowerAction, type PowerDriver, type PowerDriverDefinition } from './types.js';

const CONTROL: Record<PowerAction, ChassisControlAction> = { on: 'up', off: 'down', cycle: 'cycle', reset: 'reset', soft: 'soft' };

let shared: IpmiTransport | undefined;

export const ipmiPowerDriver: PowerDriverDefinition<BmcParams> = {
  name: 'ipmi',
  description: 'IPMI v2.0 (RMCP+, lanplus) chassis control, native',
  paramsSchema: BmcParams,
  secretParams: BMC_SECRET_PARAMS,
  sharesParamsWith: ['ipmi-sol', 'ipmitool-sol'],
  create(params): PowerDriver {
    const withSession = async <T>(fn: (s: IpmiSession) => Promise<T>): Promise<T> => {
      try {
        return await inSession(fn);
      } catch (err) {
        if (err instanceof IpmiError && err.code === 'IPMI_TIMEOUT') throw new PowerTimeoutError(err.message);
        throw err;
      }
    };
    const inSession = async <T>(fn: (s: IpmiSession) => Promise<T>): Promise<T> => {
      const session = await IpmiSession.open({
        ...ipmiSessionOptions(params),
        keepaliveMs: 0,
        transport: (shared ??= new IpmiTransport()),
      });
      try {
        return await fn(session);
      } finally {
        await session.close();
      }
    };
    return {
      status: () => withSession(getPowerState),
      control: (action) => withSession((s) => chassisControl(s, CONTROL[action])),
      setBootDevice: (device, opts) => withSession((s) => setBootDevice(s, device, opts)),
    };
  },
};
