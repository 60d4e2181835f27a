/**
 * How an L7 listener binds its TCP port: alone (node's own listen(), one L7
 * thread), or as one of several L7 threads serving the same port (issue 20,
 * point 3). Node 20's net.Server has no reusePort and a server handle cannot
 * cross threads, so each thread opens its own SO_REUSEPORT socket of the
 * port with the tcp-listen addon (native/tcp-listen) and listens on its fd;
 * the kernel spreads new connections over the sockets of the port.
 *
 * The first thread's socket binds exclusively: it fails when anything holds
 * the address already (another process, another streammesh proxy of the
 * same user with SO_REUSEPORT too), so a taken port still refuses the config
 * naming its HTTP_LISTENER; for port 0 it is the one that picks the port.
 * The other threads' sockets join the port it holds.
 *
 * Node owns an fd once it listens on it: server.close() closes it, once.
 */
import { addonLoader } from '../../../src/shared/native-addon.js';
import { lookup } from 'node:dns/promises';
import { isIP, type Server } from 'node:net';

/** How a listener of one of several L7 threads binds its port. */
export interface SharedPort {
  /** The first thread's socket: only a port nobody holds (see above). */
  readonly exclusive: boolean;
  /** The port to bind instead of the config's 0: the one the first thread's socket got. */
  readonly port?: number | undefined;
}

interface TcpListenAddon {
  listen(
    host: string,
    port: number,
    backlog: number,
    exclusive: boolean,
  ): { readonly fd: number; readonly port: number };
  close(fd: number): void;
}

/** Relative to this file in rtp-proxy/ and in dist/rtp-proxy/ alike. */
const ADDON_PATHS = [
  '../../../native/tcp-listen/build/Release/tcp_listen.node',
  '../../../../native/tcp-listen/build/Release/tcp_listen.node',
];

/** node's default backlog for listen(). */
const BACKLOG = 511;

/** The addon, or why it cannot be loaded (not built, wrong ABI...); loaded once per thread. */
export const loadTcpListenAddon = addonLoader<TcpListenAddon>(import.meta.url, ADDON_PATHS);

/**
 * Makes `server` listen on host:port: with node's listen() when `shared` is
 * undefined, else on a socket of the port shared with the other L7 threads.
 * Rejects with the bind's error (EADDRINUSE...), holding nothing.
 */
export async function listenTcp(
  server: Server,
  host: string,
  port: number,
  shared: SharedPort | undefined,
): Promise<void> {
  if (shared === undefined) {
    await listening(server, () => server.listen(port, host));
    return;
  }
  const found = loadTcpListenAddon();
  if ('error' in found) throw new Error(`shared listening socket: ${found.error}`);
  // As node's listen() does: a name listens on its first address.
  const address = isIP(host) === 0 ? (await lookup(host)).address : host;
  const { fd } = found.addon.listen(address, shared.port ?? port, BACKLOG, shared.exclusive);
  // From here node owns the fd. Should it refuse it anyway, the fd is left
  // rather than closed: node may have closed it already, and its number
  // may belong to another socket by now.
  await listening(server, () => server.listen({ fd }));
}

function listening(server: Server, listen: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => {
      server.off('listening', done);
      reject(error);
    };
    const done = (): void => {
      server.off('error', failed);
      resolve();
    };
    server.once('error', failed);
    server.once('listening', done);
    listen();
  });
}
