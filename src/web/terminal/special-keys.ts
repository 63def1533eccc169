// Keys a browser will not pass on, or that a console needs spelled out. BREAK and SysRq go
// through the daemon's escape (Ctrl-E c l0), which it turns into the driver's own break
// (a serial BREAK, SOL break, SSH break request, telnet BRK).

export const ESCAPE = {
  break: '\x05cl0',
  who: '\x05cw',
  spy: '\x05cs',
  attachRw: '\x05ca',
} as const;

export interface SpecialKey {
  label: string;
  bytes: string;
  title: string;
}

export const SPECIAL_KEYS: SpecialKey[] = [
  { label: 'Ctrl-C', bytes: '\x03', title: 'interrupt' },
  { label: 'Ctrl-D', bytes: '\x04', title: 'end of input' },
  { label: 'Esc', bytes: '\x1b', title: 'escape' },
  { label: 'Ctrl-Z', bytes: '\x1a', title: 'suspend' },
  { label: 'BREAK', bytes: ESCAPE.break, title: "the console driver's break (serial BREAK, SOL break, ssh break)" },
];

/** The daemon's answers to a break escape: sent, or why not. */
export const BREAK_SENT = /^break sequence 0 sent/;
export const BREAK_FAILED = /^break (refused|not sent)|cannot send a BREAK|break sequence 0 is not configured/;

/** Magic SysRq: the letter must follow the BREAK within 5 s (Linux's window). */
export const SYSRQ_WINDOW_MS = 5000;
export const SYSRQ_LETTERS: [string, string][] = [
  ['h', 'help'], ['s', 'sync'], ['u', 'remount read-only'], ['b', 'reboot now'], ['c', 'crash'],
  ['e', 'terminate all'], ['i', 'kill all'], ['o', 'power off'], ['t', 'show tasks'], ['w', 'blocked tasks'], ['m', 'memory'],
];
