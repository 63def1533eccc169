// opCommand (steward's REQOpCommand, ctrl's opProcess*): what an agent runs and may run.
//   ps         stdout: JSON {node, running: [{id, method, startedAt, pid}], methods: [{method, enabled, allowedNodes}]}
//   startProc  enables a method; allowedNodes, when given, become its senders (method-policy.ts)
//   stopProc   disables a method; receivingNode and kind are steward's way of naming the process:
//              accepted when receivingNode is this agent, refused when it is another node
// The agent has no per-method processes to start or stop: a method is "running" when the policy
// lets messages for it through, so starting and stopping changes the policy (saved in the data dir).
import type { Logger } from 'pino';
import type { OpCommand } from '../message.js';
import { isAgentMethod, type MethodPolicy } from '../method-policy.js';
import type { RunningMethods } from '../running.js';
import type { MethodOutcome } from '../wire.js';

export interface OpContext {
  /** This agent's node name. */
  node: string;
  /** Who sent the operation, for the log. */
  from: string | undefined;
  policy: MethodPolicy;
  running: RunningMethods;
  log: Logger;
}

export async function runOp(op: OpCommand, ctx: OpContext): Promise<MethodOutcome> {
  if (op.kind === 'ps') {
    const state = { node: ctx.node, running: ctx.running.list(), methods: ctx.policy.list() };
    return { state: 'replied', exitCode: 0, stdout: `${JSON.stringify(state, null, 2)}\n` };
  }
  const { method } = op;
  // Reply methods (console, file, ...) are the daemon's side of a message; an agent has none to switch.
  if (!isAgentMethod(method)) return failed(`${op.kind} ${method}: reply methods are handled by the daemon, not by the agent on ${ctx.node}`);
  if (op.kind === 'stopProc' && op.receivingNode !== undefined && op.receivingNode !== ctx.node) {
    return failed(`stopProc ${method}: receivingNode ${op.receivingNode} is not this agent (${ctx.node}); nothing was stopped`);
  }
  let changed;
  try {
    changed = op.kind === 'startProc' ? await ctx.policy.start(method, op.allowedNodes) : await ctx.policy.stop(method);
  } catch (err) {
    ctx.log.error({ err, method, op: op.kind, from: ctx.from }, 'fleet method policy not changed');
    return failed(`${op.kind} ${method}: ${(err as Error).message}; nothing was changed`);
  }
  ctx.log.info({ method, op: op.kind, enabled: changed.enabled, allowedNodes: changed.allowedNodes, from: ctx.from }, 'fleet method policy changed');
  const verb = op.kind === 'startProc' ? 'started' : 'stopped';
  return { state: 'replied', exitCode: 0, stdout: `${verb} ${method} on ${ctx.node} (allowedNodes: ${changed.allowedNodes.join(', ')})\n` };
}

function failed(error: string): MethodOutcome {
  return { state: 'failed', exitCode: 1, errorCode: 'OP_FAILED', error };
}
