/**
 * The bare Node proxy of bench:http (bare-forwarders.ts in a process of its
 * own): the floor streammesh's L7 path is measured against (issue 20: max
 * requests/s per core >= 0.9x this).
 *
 * Usage (a child process of run.ts): node bare-proxy.js '{"listeners":
 * {"http1":P,"http2":P,"grpc":P},"backends":{"http1":P,"http2":P,"grpc":P}}'
 * Prints "ready" on stdout once listening; ends on SIGTERM or after its
 * lifetime (30 minutes). One process, one JavaScript thread.
 */
import { bareHttp1Server, bareHttp2Server } from './bare-forwarders.js';

interface Config {
  readonly listeners: Readonly<Record<'http1' | 'http2' | 'grpc', number>>;
  readonly backends: Readonly<Record<'http1' | 'http2' | 'grpc', number>>;
}

const LIFETIME_MS = 30 * 60_000;
const config = JSON.parse(process.argv[2] ?? '{}') as Config;

const http1 = bareHttp1Server(config.backends.http1);
const http2 = bareHttp2Server(config.backends.http2);
const grpc = bareHttp2Server(config.backends.grpc);

const servers = [
  [http1, config.listeners.http1],
  [http2, config.listeners.http2],
  [grpc, config.listeners.grpc],
] as const;
let listening = 0;
for (const [server, port] of servers) {
  server.listen(port, '127.0.0.1', () => {
    listening++;
    if (listening === servers.length) process.stdout.write('ready\n');
  });
}

const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, LIFETIME_MS).unref();
