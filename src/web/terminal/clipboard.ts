// Copy and paste: xterm's selection to the clipboard, the clipboard to the console. Ctrl-C is the
// console's interrupt, so the keyboard shortcuts are Ctrl-Shift-C and Ctrl-Shift-V, as in
// desktop terminals.
import type { Terminal } from '@xterm/xterm';

type Status = (text: string, problem?: boolean) => void;

export async function copySelection(term: Terminal, status: Status): Promise<void> {
  const text = term.getSelection();
  if (!text) return status('nothing selected to copy', true);
  try {
    await navigator.clipboard.writeText(text);
    status(`copied ${text.length} characters`);
  } catch (err) {
    status(`copy failed: ${(err as Error).message}`, true);
  }
  term.focus();
}

export async function pasteInto(term: Terminal, status: Status): Promise<void> {
  try {
    // term.paste honours bracketed paste mode, as typing the text would not.
    term.paste(await navigator.clipboard.readText());
  } catch (err) {
    status(`paste failed: ${(err as Error).message} (Ctrl-Shift-V works without clipboard permission)`, true);
  }
  term.focus();
}

/** For attachCustomKeyEventHandler: false keeps a key from xterm (and so from the console). */
export function clipboardKeys(term: Terminal, status: Status): (e: KeyboardEvent) => boolean {
  return (e) => {
    if (!e.ctrlKey || !e.shiftKey || e.altKey) return true;
    if (e.code === 'KeyC') {
      if (e.type === 'keydown') {
        e.preventDefault();
        void copySelection(term, status);
      }
      return false;
    }
    // The browser's own paste follows (its paste event reaches xterm's textarea); no ^V to the console.
    if (e.code === 'KeyV') return false;
    return true;
  };
}
