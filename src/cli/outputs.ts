// `switchboard note NODE TEXT...` (an operator's note into the node's log and the output sinks)
// and `switchboard outputs` (the sinks and their counters).
import { Command } from 'commander';
import type { OutputStats } from '../outputs/hub.js';
import { ApiClient } from './client.js';
import { printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

export function noteCommand(): Command {
  return new Command('note')
    .description("write a note into a node's console log (and to the output sinks), e.g. why it is being rebooted")
    .argument('<node>', 'node name')
    .argument('<text...>', 'the note, one line')
    .action(async (node: string, text: string[], _o, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const res = await new ApiClient(g).request<{ node: string; message: string }>('POST', `/nodes/${encodeURIComponent(node)}/notes`, { text: text.join(' ') });
      if (g.output === 'json') printJson(res);
      else process.stdout.write(`${res.node}: ${res.message}\n`);
    });
}

export function outputsCommand(): Command {
  return new Command('outputs')
    .description('list the output sinks (tcp, udp, nats) with records sent, dropped and queued')
    .action(async (_o, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const { outputs } = await new ApiClient(g).request<{ outputs: OutputStats[] }>('GET', '/outputs');
      if (g.output === 'json') return printJson(outputs);
      printTable(['NAME', 'TYPE', 'CONNECTED', 'SENT', 'DROPPED', 'QUEUED'], outputs.map((o) => [o.name, o.type, o.connected ? 'yes' : 'no', o.sent, o.dropped, o.queued]));
    });
}
