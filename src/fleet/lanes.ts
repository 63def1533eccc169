// Lanes: how one node's messages are split into independent ordered queues.
//
// The issue's order guarantee is "per node and method, in the order sent; the n-methods run
// concurrently without it". Each lane is one JetStream durable consumer of its own subject
// (<prefix>.cmd.<node>.<lane>); an ordered lane has max_ack_pending 1 and the agent acks an
// envelope (the messages submitted together, wire.ts) only after their final replies, running
// them one after another, so a later message is not even delivered before those before it are
// done. Methods that run long by design (tailFile, cliCommandCont) have a lane each, so a tail
// never holds up a command; hello, errorLog and op share `ctl`, so an operation on the agent
// (stopProc while a command runs) is not stuck behind a slow command. The n lane lets many
// messages be unacked at once and the agent runs them side by side.
import type { FleetMethod } from './message.js';

export type Lane = 'cli' | 'cont' | 'tail' | 'http' | 'ctl' | 'n';

export const LANES: readonly Lane[] = ['cli', 'cont', 'tail', 'http', 'ctl', 'n'];

/** Messages of the n lane an agent runs at the same time, unless told otherwise (`--concurrency`). */
export const DEFAULT_N_CONCURRENCY = 32;

const LANE_OF: Record<FleetMethod, Lane> = {
  cliCommand: 'cli',
  cliCommandCont: 'cont',
  tailFile: 'tail',
  httpGet: 'http',
  hello: 'ctl',
  errorLog: 'ctl',
  op: 'ctl',
  nCliCommand: 'n',
  nCliCommandCont: 'n',
};

/** The lane of a (canonical) method: the n-methods, which are the unordered ones, share `n`. */
export function laneOf(message: { method: FleetMethod }): Lane {
  return LANE_OF[message.method];
}

/** The methods whose messages go in `lane`. */
export function methodsOf(lane: Lane): FleetMethod[] {
  return (Object.keys(LANE_OF) as FleetMethod[]).filter((method) => LANE_OF[method] === lane);
}

export function isOrdered(lane: Lane): boolean {
  return lane !== 'n';
}
