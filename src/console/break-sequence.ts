// conserver's break sequences: `\z` is a real BREAK from the driver, `\d` a 250 ms pause,
// `^X` a control character, `\r \n \t \\` and `\ooo` (octal) as in C.

export type BreakStep = { type: 'bytes'; data: Buffer } | { type: 'break' } | { type: 'delay'; ms: number };

/** conserver's defaults: 1 BREAK, 2 Sun's `~^b`, 3 `#.` (ALOM/iLO), 4 `~^b` with pauses. */
export const DEFAULT_BREAK_SEQUENCES: Record<string, string> = {
  '1': '\\z',
  '2': '\\r~^b',
  '3': '#.',
  '4': '\\r\\d~\\d^b',
};

export function parseBreakSequence(seq: string): BreakStep[] {
  const steps: BreakStep[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length) steps.push({ type: 'bytes', data: Buffer.from(bytes) });
    bytes = [];
  };
  for (let i = 0; i < seq.length; i++) {
    const c = seq[i];
    if (c === '^' && i + 1 < seq.length) {
      const next = seq[++i];
      bytes.push(next === '?' ? 0x7f : next.toUpperCase().charCodeAt(0) & 0x1f);
    } else if (c === '\\' && i + 1 < seq.length) {
      const next = seq[++i];
      const octal = /^[0-7]{1,3}/.exec(seq.slice(i));
      if (next === 'z') {
        flush();
        steps.push({ type: 'break' });
      } else if (next === 'd') {
        flush();
        steps.push({ type: 'delay', ms: 250 });
      } else if (octal) {
        bytes.push(parseInt(octal[0], 8) & 0xff);
        i += octal[0].length - 1;
      } else {
        bytes.push(({ r: 0x0d, n: 0x0a, t: 0x09, a: 0x07, b: 0x08, f: 0x0c, v: 0x0b } as Record<string, number>)[next] ?? next.charCodeAt(0));
      }
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  flush();
  return steps;
}
