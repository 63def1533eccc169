// conserver's client escape sequences, parsed on the daemon so every client (CLI, web, raw TCP)
// behaves alike: Ctrl-E c then a command character.

export const ESCAPE_CHAR = 0x05; // Ctrl-E
export const ESCAPE_COMMAND = 0x63; // 'c'
const NOTE_MAX = 512;

export type EscapeAction =
  | { type: 'data'; data: Buffer }
  | { type: 'detach' }
  | { type: 'help' }
  | { type: 'who' }
  | { type: 'spy' }
  | { type: 'attach' }
  | { type: 'force' }
  | { type: 'replay' }
  | { type: 'break'; sequence: number }
  | { type: 'note-start' }
  | { type: 'note'; text: string }
  | { type: 'echo'; data: Buffer }
  | { type: 'cancelled' }
  | { type: 'unknown'; char: string };

const COMMANDS: Record<string, EscapeAction['type']> = {
  '.': 'detach',
  '?': 'help',
  w: 'who',
  s: 'spy',
  a: 'attach',
  f: 'force',
  r: 'replay',
};

export const ESCAPE_HELP = [
  'Switchboard escape commands (Ctrl-E c, then):',
  '  .   detach from this console',
  '  a   attach read-write',
  '  s   spy: switch to read-only',
  '  f   force: take write access, other writers become read-only',
  '  w   who is attached',
  '  r   replay the last lines of output',
  '  l0-l9  send break sequence 0-9 (l0: the default break)',
  '  n   write an operator note into the console log',
  '  ?   this help',
];

enum State { Normal, SawEscape, Command, Break, Note }

export class EscapeParser {
  private state = State.Normal;
  private note: number[] = [];

  /** True while the parser holds bytes of an unfinished sequence. */
  get pending(): boolean {
    return this.state !== State.Normal;
  }

  feed(input: Buffer): EscapeAction[] {
    // Fast path: plain typing with no escape in flight.
    if (this.state === State.Normal && input.indexOf(ESCAPE_CHAR) < 0) return [{ type: 'data', data: input }];
    const actions: EscapeAction[] = [];
    let start = 0; // start of the plain run not yet emitted
    const flush = (end: number) => {
      if (end > start) actions.push({ type: 'data', data: input.subarray(start, end) });
    };
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      const was = this.state;
      switch (was) {
        case State.Normal:
          if (b === ESCAPE_CHAR) {
            flush(i);
            this.state = State.SawEscape;
          }
          break;
        case State.SawEscape:
          if (b === ESCAPE_COMMAND) {
            this.state = State.Command;
          } else if (b === ESCAPE_CHAR) {
            // The first Ctrl-E was meant for the console; the second may still start a command.
            actions.push({ type: 'data', data: Buffer.from([ESCAPE_CHAR]) });
          } else {
            // Not ours: the Ctrl-E goes to the console, and this byte starts plain input again.
            actions.push({ type: 'data', data: Buffer.from([ESCAPE_CHAR]) });
            this.state = State.Normal;
            start = i;
            continue;
          }
          break;
        case State.Command: {
          const ch = String.fromCharCode(b);
          this.state = State.Normal;
          if (ch === 'l') this.state = State.Break;
          else if (ch === 'n') {
            this.state = State.Note;
            this.note = [];
            actions.push({ type: 'note-start' });
          } else if (COMMANDS[ch]) actions.push({ type: COMMANDS[ch] } as EscapeAction);
          else actions.push({ type: 'unknown', char: printable(b) });
          break;
        }
        case State.Break:
          this.state = State.Normal;
          if (b >= 0x30 && b <= 0x39) actions.push({ type: 'break', sequence: b - 0x30 });
          else actions.push({ type: 'unknown', char: `l${printable(b)}` });
          break;
        case State.Note:
          this.feedNote(b, actions);
          break;
      }
      if (was !== State.Normal && this.state === State.Normal) start = i + 1;
    }
    if (this.state === State.Normal) flush(input.length);
    return actions;
  }

  private feedNote(b: number, actions: EscapeAction[]) {
    if (b === 0x0d || b === 0x0a) {
      this.state = State.Normal;
      actions.push({ type: 'note', text: Buffer.from(this.note).toString('utf8').trim() });
    } else if (b === 0x03 || b === 0x1b) {
      this.state = State.Normal;
      actions.push({ type: 'cancelled' });
    } else if (b === 0x7f || b === 0x08) {
      if (this.note.length) {
        this.note.pop();
        actions.push({ type: 'echo', data: Buffer.from('\b \b') });
      }
    } else if (b >= 0x20 && this.note.length < NOTE_MAX) {
      this.note.push(b);
      actions.push({ type: 'echo', data: Buffer.from([b]) });
    }
  }
}

function printable(b: number): string {
  if (b < 0x20) return `^${String.fromCharCode(b + 0x40)}`;
  if (b === 0x7f) return '^?';
  return String.fromCharCode(b);
}
