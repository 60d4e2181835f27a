/**
 * The tcp-listen addon (native/tcp-listen) on its own: the sockets it opens
 * (SO_REUSEPORT joinable only after an exclusive first bind; IPv4 and IPv6;
 * port 0 picked once) and what it does with arguments JavaScript should
 * never pass it (it throws, holding no fd, rather than crashing the
 * process). Real sockets on loopback; an integration test, as it opens them.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { before, describe, it } from 'node:test';
import { loadTcpListenAddon } from '../../../rtp-proxy/l7/listener/shared-listen.js';

type Addon = Extract<ReturnType<typeof loadTcpListenAddon>, { addon: unknown }>['addon'];

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('tcp-listen addon', () => {
  let addon: Addon;
  before(() => {
    const found = loadTcpListenAddon();
    if ('error' in found) throw new Error(`tcp-listen addon not built: ${found.error}`);
    addon = found.addon;
  });

  it('binds exclusively first, lets SO_REUSEPORT sockets join, and refuses a second exclusive bind', () => {
    const first = addon.listen('127.0.0.1', 0, 16, true);
    try {
      assert.ok(first.port > 0 && first.fd > 2);
      assert.throws(
        () => addon.listen('127.0.0.1', first.port, 16, true),
        (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE',
      );
      const joined = addon.listen('127.0.0.1', first.port, 16, false);
      assert.equal(joined.port, first.port);
      addon.close(joined.fd);
    } finally {
      addon.close(first.fd);
    }
    // Closed: the port is anybody's again.
    const again = addon.listen('127.0.0.1', first.port, 16, true);
    addon.close(again.fd);
  });

  it('listens on IPv6 and accepts a connection there', async () => {
    const { fd, port } = addon.listen('::1', 0, 16, true);
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '::1', port }, () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
    } finally {
      addon.close(fd);
    }
  });

  it('throws on hostile arguments and holds no fd for them', () => {
    const before = openFds();
    const hostile: [string, () => unknown][] = [
      ['no arguments', () => (addon.listen as (...args: unknown[]) => unknown)()],
      ['host not a string', () => addon.listen(1 as unknown as string, 0, 16, true)],
      ['empty host', () => addon.listen('', 0, 16, true)],
      ['host too long', () => addon.listen('1'.repeat(300), 0, 16, true)],
      ['a name, not an address', () => addon.listen('localhost', 0, 16, true)],
      ['garbage host', () => addon.listen('127.0.0.1; rm -rf /', 0, 16, true)],
      ['negative port', () => addon.listen('127.0.0.1', -1, 16, true)],
      ['port over 65535', () => addon.listen('127.0.0.1', 65536, 16, true)],
      ['port not a number', () => addon.listen('127.0.0.1', 'x' as unknown as number, 16, true)],
      ['backlog 0', () => addon.listen('127.0.0.1', 0, 0, true)],
      ['exclusive not a boolean', () => addon.listen('127.0.0.1', 0, 16, 1 as unknown as boolean)],
      ['close of a negative fd', () => addon.close(-1)],
      ['close of no fd', () => (addon.close as (...args: unknown[]) => unknown)()],
    ];
    for (const [name, call] of hostile) assert.throws(call, Error, name);
    assert.equal(openFds(), before, 'no fd left open by a refused call');
  });
});
