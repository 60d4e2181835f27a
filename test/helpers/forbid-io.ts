/**
 * Loaded before every unit test file (`node --import`): a unit test opens no
 * socket and starts no process, so that it runs anywhere, fast, in parallel.
 * A test that tries is an integration test, and fails here with a message
 * that says so.
 */
import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function forbidden(what: string): () => never {
  return () => {
    throw new Error(`a unit test may not ${what}: move the test to test/integration`);
  };
}

net.Socket.prototype.connect = forbidden('open a TCP connection');
net.Server.prototype.listen = forbidden('listen on a socket');
dgram.Socket.prototype.bind = forbidden('bind a UDP socket');
dgram.Socket.prototype.send = forbidden('send UDP');
for (const name of [
  'spawn',
  'spawnSync',
  'exec',
  'execSync',
  'execFile',
  'execFileSync',
  'fork',
] as const) {
  Object.defineProperty(childProcess, name, { value: forbidden('start a process') });
}
// Named imports of node:child_process (ESM) read the module's live exports.
syncBuiltinESMExports();
