// Waiting on events, not on the clock: a condition is re-checked whenever its source says
// something changed, and the deadline only turns a hang into a readable failure.

export interface WaitOptions {
  what: string;
  timeoutMs?: number;
  /** Register a wake-up callback; returns the unsubscribe. */
  subscribe(wake: () => void): () => void;
  /** A reason to give up early (e.g. the process died). */
  failIf?: () => string | undefined;
  /** Shown on timeout, e.g. what was received so far. */
  describe?: () => string;
}

export function waitUntil<T>(check: () => T | undefined | false, opts: WaitOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      unsubscribe();
      fn();
    };
    const test = () => {
      const value = check();
      if (value !== undefined && value !== false) return finish(() => resolve(value));
      const failure = opts.failIf?.();
      if (failure) finish(() => reject(new Error(`${opts.what}: ${failure}`)));
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out waiting for ${opts.what}${opts.describe ? `; got: ${opts.describe()}` : ''}`))),
      opts.timeoutMs ?? 15_000,
    );
    unsubscribe = opts.subscribe(test);
    test();
  });
}

/** A `subscribe` for waitUntil: wake whenever the emitter emits any of these events. */
export function onEvents(emitter: NodeJS.EventEmitter, ...events: string[]): (wake: () => void) => () => void {
  return (wake) => {
    for (const e of events) emitter.on(e, wake);
    return () => {
      for (const e of events) emitter.off(e, wake);
    };
  };
}
