// `serve --demo`: a node whose console is a small simulated serial console, so a newcomer has
// something to attach to before defining real nodes.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { FleetAgent } from '../fleet/agent.js';
import type { FleetController } from '../fleet/controller.js';
import type { NatsSettings } from '../fleet/nats-connect.js';
import type { NodeService } from '../nodes/service.js';

export const DEMO_NODE = 'demo';

/** The bin script, from src/daemon or dist/daemon alike. */
const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));

export function demoSpec() {
  return {
    name: DEMO_NODE,
    driver: 'cmd',
    params: { cmd: [process.execPath, BIN, 'demo-console'] },
    ondemand: false,
    labels: { role: 'demo' },
  };
}

/** Create the demo node, or point it at this checkout's binary if it moved. */
export async function ensureDemoNode(nodes: NodeService): Promise<void> {
  const spec = demoSpec();
  try {
    const existing = await nodes.record(DEMO_NODE);
    if (JSON.stringify(existing.params) !== JSON.stringify(spec.params)) await nodes.patch(DEMO_NODE, { params: spec.params });
  } catch (err) {
    if ((err as { code?: string }).code !== 'NODE_NOT_FOUND') throw err;
    await nodes.create(spec);
  }
}

/**
 * With --nats, the demo node's fleet agent, inside the daemon: it takes only this daemon's signed
 * messages and runs their commands as the daemon's user, in its working directory; it remembers
 * what it ran in <data-dir>/demo-agent. A real node runs `switchboard agent` on its own machine.
 */
export function startDemoAgent(fleet: FleetController, nats: NatsSettings, prefix: string, dataDir: string, logger: Logger, version: string): Promise<FleetAgent> {
  return FleetAgent.start({
    node: DEMO_NODE, nats, prefix, dataDir: path.join(dataDir, 'demo-agent'), allowed: [fleet.signerKey], version,
    logger: logger.child({ component: 'demo-agent' }),
  });
}
