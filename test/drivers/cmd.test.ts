import { cmdDriver } from '../../src/drivers/cmd.js';
import { driverContract } from './contract.js';

driverContract('cmd', () => ({
  driver: cmdDriver,
  params: async () => ({ cmd: ['/bin/sh', '-i'], env: { PS1: '$ ' } }),
  sizeProbe: 'stty size\r',
  async dropPeer(session) {
    process.kill(session.status().info.pid as number, 'SIGKILL');
  },
  badParams: async () => ({ cmd: '/nonexistent/console' }),
  badReason: /command not found: \/nonexistent\/console/,
}));
