// A real BMC for tests: OpenIPMI's ipmi_sim on a free loopback UDP port, with chassis power and
// boot device kept in plain files the test reads (recipe: ../shared/tools/bmc-sim/). Stopped by PID.
import dgram from 'node:dgram';
import { chmodSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './daemon.js';
import { spawnTracked, stopProcess } from './processes.js';
import { waitUntil } from './wait.js';

export const BMC_USER = 'admin';
export const BMC_PASSWORD = 'password';
/** A user limited to User privilege: may read, may not control power. */
export const BMC_RO_USER = 'viewer';
export const BMC_RO_PASSWORD = 'viewpass';

// ipmi_sim runs this for every chassis action; it must exit 0 or the BMC answers 0xff.
const CHASSIS_CONTROL = `#!/bin/sh
dir=$1; shift; op=$1; shift
ts=$(date +%s.%N)
case "$op" in
  get) for k in "$@"; do case "$k" in
         power) echo "power:$(cat "$dir/power")" ;; boot) echo "boot:$(cat "$dir/boot")" ;; *) echo "$k:0" ;;
       esac; done ;;
  set) while [ $# -ge 2 ]; do k=$1; v=$2; shift 2
         echo "$ts set $k $v" >> "$dir/events.log"
         case "$k" in power) echo "$v" > "$dir/power" ;; boot) echo "$v" > "$dir/boot" ;; shutdown) echo 0 > "$dir/power" ;; esac
       done ;;
esac
exit 0
`;

export interface BmcSim {
  host: string;
  port: number;
  dir: string;
  pid: number;
  /** chassis/power as ipmi_sim last wrote it ('0' | '1'). */
  power(): string;
  /** chassis/boot (none|pxe|default|cdrom|bios). */
  boot(): string;
  events(): string[];
  stop(): Promise<void>;
}

function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }));
}

// Get Channel Authentication Capabilities in an IPMI 1.5 wrapper: any answer means "listening".
const PROBE = Buffer.from('0600ff07000000000000000000092018c88104388e04b1', 'hex');

export async function startBmcSim(): Promise<BmcSim> {
  const dir = tempDir('bmc');
  const chassis = path.join(dir, 'chassis');
  mkdirSync(path.join(dir, 'persist'), { recursive: true });
  mkdirSync(chassis, { recursive: true });
  writeFileSync(path.join(chassis, 'power'), '0\n');
  writeFileSync(path.join(chassis, 'boot'), 'default\n');
  writeFileSync(path.join(chassis, 'events.log'), '');
  const control = path.join(dir, 'chassis-control.sh');
  writeFileSync(control, CHASSIS_CONTROL);
  chmodSync(control, 0o755);
  const port = await freeUdpPort();
  writeFileSync(path.join(dir, 'lan.conf'), `name "bmc${port}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa12345678900${port.toString(16).padStart(4, '0')}
  endlan
  chassis_control "${control} ${chassis}"
  user 2 true "${BMC_USER}" "${BMC_PASSWORD}" admin 10 none md2 md5 straight
  user 3 true "${BMC_RO_USER}" "${BMC_RO_PASSWORD}" user 10 none md2 md5 straight
`);
  writeFileSync(path.join(dir, 'bmc.emu'), `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`);
  const proc = spawnTracked('ipmi_sim', ['-n', '-c', path.join(dir, 'lan.conf'), '-f', path.join(dir, 'bmc.emu'), '-s', path.join(dir, 'persist')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));

  // Ready when it answers: probe over UDP; each probe's answer (or process exit) wakes the wait.
  const probe = dgram.createSocket('udp4');
  let answered = false;
  probe.on('message', () => (answered = true));
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  try {
    await waitUntil(() => answered, {
      what: `ipmi_sim to answer on udp/${port}`,
      subscribe: (wake) => {
        // UDP may drop a probe sent before the bind: resend, as any IPMI client would.
        const resend = setInterval(() => probe.send(PROBE, port, '127.0.0.1'), 100);
        probe.send(PROBE, port, '127.0.0.1');
        probe.on('message', wake);
        proc.on('exit', wake);
        return () => {
          clearInterval(resend);
          probe.off('message', wake);
          proc.off('exit', wake);
        };
      },
      failIf: () => (proc.exitCode !== null ? `ipmi_sim exited: ${output.trim()}` : undefined),
      describe: () => output,
    });
  } finally {
    probe.close();
  }
  const read = (f: string) => readFileSync(path.join(chassis, f), 'utf8').trim();
  return {
    host: '127.0.0.1',
    port,
    dir,
    pid: proc.pid!,
    power: () => read('power'),
    boot: () => read('boot'),
    events: () => read('events.log').split('\n').filter(Boolean),
    async stop() {
      await stopProcess(proc);
    },
  };
}
