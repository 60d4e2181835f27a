/**
 * A minimal HTTP/1.1 backend (every request answered 200 "ok") in a Node
 * process of its own, for tests that load the L7 proxy hard: the backend's
 * work then lands on its own event loop, not the test's, which stays idle
 * enough to time media packets. Bounded in time like every peer.
 */
import { spawnPeer, type PeerProcess } from './process.js';

export interface HttpBackend {
  readonly port: number;
  readonly peer: PeerProcess;
  stop(): Promise<void>;
}

// Binds port 0 and says which port on stderr; keep-alive stays on (node's
// default), as a real service behind the proxy would have it.
const SERVER = `
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('ok'));
});
server.listen(0, '127.0.0.1', () => {
  process.stderr.write('listening ' + server.address().port + '\\n');
});
process.on('SIGTERM', () => process.exit(0));
`;

export async function startHttpBackend(options: { timeoutMs: number }): Promise<HttpBackend> {
  const peer = spawnPeer(process.execPath, ['-e', SERVER], {
    timeoutMs: options.timeoutMs,
    stopSignal: 'SIGTERM',
  });
  const match = await peer.waitForStderr(/^listening (\d+)$/m, 5_000);
  return {
    port: Number(match[1]),
    peer,
    stop: async () => {
      await peer.stop();
    },
  };
}
