// `ipmitool`: power and boot device by running the ipmitool binary (lanplus), for BMCs the
// native code does not handle. The password goes through the environment (-E), never argv.
import { execFile } from 'node:child_process';
import { BmcParams, BMC_SECRET_PARAMS, IPMITOOL_RETRIES, ipmitoolArgs } from '../drivers/bmc-params.js';
import { PowerTimeoutError, type PowerDriver, type PowerDriverDefinition, type PowerState } from './types.js';

/** `Chassis Power is on` → 'on'. */
export function parsePowerStatus(out: string): PowerState {
  const m = /Chassis Power is (on|off)/i.exec(out);
  if (!m) throw new Error(`ipmitool said ${JSON.stringify(out.trim().slice(0, 200))}, not the power state`);
  return m[1]!.toLowerCase() as PowerState;
}

export const ipmitoolPowerDriver: PowerDriverDefinition<BmcParams> = {
  name: 'ipmitool',
  description: 'IPMI chassis control by running ipmitool -I lanplus (fallback for BMCs the native ipmi driver does not handle)',
  paramsSchema: BmcParams,
  secretParams: BMC_SECRET_PARAMS,
  sharesParamsWith: ['ipmi-sol', 'ipmitool-sol'],
  create(params): PowerDriver {
    const base = ipmitoolArgs(params);
    // Every try timing out, plus room to start: past that, ipmitool is hung.
    const limitMs = (params.timeoutMs ?? 1000) * (IPMITOOL_RETRIES + 2) + 5000;
    const run = (args: string[]) =>
      new Promise<string>((resolve, reject) => {
        execFile('ipmitool', [...base, ...args], { env: { ...process.env, IPMI_PASSWORD: params.password }, timeout: limitMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          if (err.killed) return reject(new PowerTimeoutError(`ipmitool ${args.join(' ')}: no result after ${limitMs} ms`));
          const code = (err as { code?: unknown }).code;
          if (code === 'ENOENT') return reject(new Error('ipmitool is not installed (apt-get install ipmitool)'));
          const said = `${stderr}`.trim().split('\n').filter(Boolean).slice(-2).join('; ') || `exit code ${String(code)}`;
          reject(new Error(`ipmitool ${args.join(' ')}: ${said}`));
        });
      });
    return {
      status: async () => parsePowerStatus(await run(['chassis', 'power', 'status'])),
      control: async (action) => void (await run(['chassis', 'power', action])),
      setBootDevice: async (device, opts) => {
        const options = [opts.persistent ? 'persistent' : '', opts.efi ? 'efiboot' : ''].filter(Boolean);
        await run(['chassis', 'bootdev', device, ...(options.length ? [`options=${options.join(',')}`] : [])]);
      },
    };
  },
};
