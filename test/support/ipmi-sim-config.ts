// The files an OpenIPMI ipmi_sim BMC on loopback starts from (recipe: ../shared/tools/bmc-sim/).
// No node:test import here: the benchmarks use it too.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Get Channel Authentication Capabilities in an IPMI 1.5 wrapper: any answer means "listening". */
export const PROBE = Buffer.from('0600ff07000000000000000000092018c88104388e04b1', 'hex');

export interface SimUser {
  name: string;
  password: string;
  privilege: 'user' | 'operator' | 'admin';
}

export interface SimConfig {
  /** UDP port for RMCP/RMCP+ on 127.0.0.1. */
  port: number;
  /** Users 2, 3, ... in order. */
  users: SimUser[];
  /** Program (with its arguments) ipmi_sim runs for chassis power and boot actions. */
  chassisControl?: string;
  /** TCP port on 127.0.0.1 that ipmi_sim connects to as the SOL serial line. */
  solPort?: number;
}

/** Writes lan.conf and bmc.emu into `dir`; run `ipmi_sim -n -c dir/lan.conf -f dir/bmc.emu -s dir/persist`. */
export function writeSimConfig(dir: string, c: SimConfig): void {
  const lines = [
    `name "bmc${c.port}"`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr 127.0.0.1 ${c.port}`,
    '    priv_limit admin',
    ...['callback', 'user', 'operator', 'admin'].map((p) => `    allowed_auths_${p} none md2 md5 straight`),
    `    guid a123456789abcdefa12345678900${c.port.toString(16).padStart(4, '0')}`,
    '  endlan',
    ...(c.chassisControl ? [`  chassis_control "${c.chassisControl}"`] : []),
    ...c.users.map((u, i) => `  user ${i + 2} true "${u.name}" "${u.password}" ${u.privilege} 10 none md2 md5 straight`),
    ...(c.solPort ? [`  sol "tcp:127.0.0.1:${c.solPort}" 115200`] : []),
  ];
  writeFileSync(path.join(dir, 'lan.conf'), `${lines.join('\n')}\n`);
  writeFileSync(path.join(dir, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n');
}
