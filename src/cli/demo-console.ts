// A simulated serial console for the demo node: a short boot log, a login prompt, and a tiny
// shell. It echoes what is typed itself (raw mode), as a serial getty's terminal would.
import os from 'node:os';
import { StringDecoder } from 'node:string_decoder';

const HOST = 'demo';
const BOOT = [
  '[    0.000000] Linux version 6.1.0-demo (switchboard@demo) #1 SMP PREEMPT_DYNAMIC',
  '[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1 console=ttyS0,115200n8',
  '[    0.120317] smpboot: CPU0: Simulated Processor @ 2.40GHz',
  '[    0.482911] Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled',
  '[    0.483502] serial8250: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A',
  '[    1.904113] EXT4-fs (sda1): mounted filesystem with ordered data mode',
  '[    2.310552] systemd[1]: Reached target Multi-User System.',
  '',
  'Switchboard demo console (simulated). Log in as any user; type "help" at the prompt.',
  '',
];

type Stage = 'login' | 'password' | 'shell';

export function runDemoConsole(opts: { bootDelayMs?: number } = {}): void {
  // On a tty the line discipline turns \n into \r\n (raw mode keeps ONLCR); a pipe gets \r\n from us.
  const tty = process.stdout.isTTY === true;
  const out = (s: string) => process.stdout.write(tty ? s : s.replace(/\n/g, '\r\n'));
  const delay = opts.bootDelayMs ?? 60;
  let stage: Stage = 'login';
  let user = 'root';
  let line = '';

  const prompt = () => {
    if (stage === 'login') out(`${HOST} login: `);
    else if (stage === 'password') out('Password: ');
    else out(`[${user}@${HOST} ~]# `);
  };

  const command = (cmd: string): void => {
    const [verb, ...args] = cmd.trim().split(/\s+/);
    switch (verb) {
      case '':
        break;
      case 'help':
        out('commands: help, echo TEXT, uname, uptime, date, hostname, dmesg, exit\n');
        break;
      case 'echo':
        out(`${args.join(' ')}\n`);
        break;
      case 'uname':
        out('Linux demo 6.1.0-demo #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n');
        break;
      case 'uptime':
        out(` ${new Date().toTimeString().slice(0, 8)} up ${Math.round(process.uptime())} sec,  1 user,  load average: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}\n`);
        break;
      case 'date':
        out(`${new Date().toUTCString()}\n`);
        break;
      case 'hostname':
        out(`${HOST}\n`);
        break;
      case 'dmesg':
        out(`${BOOT.slice(0, 7).join('\n')}\n`);
        break;
      case 'exit':
      case 'logout':
        out('logout\n\n');
        stage = 'login';
        return;
      default:
        out(`-bash: ${verb}: command not found\n`);
    }
  };

  const enter = () => {
    out('\n');
    const text = line;
    line = '';
    if (stage === 'login') {
      if (text.trim()) {
        user = text.trim().slice(0, 32);
        stage = 'password';
      }
    } else if (stage === 'password') {
      stage = 'shell';
      out(`Last login: ${new Date().toUTCString()} on ttyS0\n`);
    } else {
      command(text);
    }
    prompt();
  };

  /** One character typed (UTF-8 decoded: an é is one key, not two). */
  const onKey = (ch: string) => {
    const code = ch.codePointAt(0)!;
    if (code === 0x0d || code === 0x0a) return enter();
    if (code === 0x7f || code === 0x08) {
      if (line.length) {
        line = Array.from(line).slice(0, -1).join('');
        if (stage !== 'password') out('\b \b');
      }
      return;
    }
    if (code === 0x03) {
      line = '';
      out('^C\n');
      return prompt();
    }
    if (code === 0x04) {
      if (stage === 'shell' && !line) {
        command('exit');
        return prompt();
      }
      return;
    }
    if (code < 0x20) return;
    line += ch;
    if (stage !== 'password') out(ch);
  };

  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  const decoder = new StringDecoder('utf8');
  process.stdin.on('data', (chunk: Buffer) => {
    for (const ch of decoder.write(chunk)) onKey(ch);
  });
  process.stdin.on('end', () => process.exit(0));

  let i = 0;
  const boot = () => {
    if (i < BOOT.length) {
      out(`${BOOT[i++]}\n`);
      setTimeout(boot, delay);
    } else {
      prompt();
    }
  };
  boot();
}
