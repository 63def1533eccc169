// The methods an agent is running right now, by message id, for `op ps` (methods/op-command.ts).
import type { FleetMethod } from './message.js';

export interface RunningMethod {
  id: string;
  method: FleetMethod;
  /** ISO 8601, the agent's clock. */
  startedAt: string;
  /** Commands: the process (group leader) the method started. */
  pid?: number;
}

export class RunningMethods {
  private readonly byId = new Map<string, RunningMethod>();

  add(id: string, method: FleetMethod): void {
    this.byId.set(id, { id, method, startedAt: new Date().toISOString() });
  }

  setPid(id: string, pid: number): void {
    const running = this.byId.get(id);
    if (running) running.pid = pid;
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  /** Oldest first (the order they were added in); copies. */
  list(): RunningMethod[] {
    return [...this.byId.values()].map((r) => ({ ...r }));
  }
}
