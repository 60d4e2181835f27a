/**
 * bench:http-path's rig: nginx as the backend, and in this process's one
 * JavaScript thread both streammesh's HttpService (the object its L7 thread
 * runs, with bench:http's proxy.http config) and the bare forwarders, one
 * listener of each per protocol, every one on a port the system picks.
 *
 * One isolate for both: the HTTP/2 upstream pool streammesh makes puts
 * leanBind in place of node 20's AsyncResource.bind for the whole isolate
 * (src/shared/lean-async-bind.ts), so the bare forwarders' HTTP/2 client
 * has it too here, as it has not in bench:http's bare-proxy.ts. What is
 * compared is the two request paths on the same runtime.
 */
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpService } from '../../rtp-proxy/l7/l7-service.js';
import { type Http2FrameCheck, httpSchema } from '../../src/config/http-schema.js';
import { freePort } from '../../test/helpers/ports.js';
import { startNginx } from './backends.js';
import { bareHttp1Server, bareHttp2Server } from './bare-forwarders.js';
import type { Protocol } from './endpoints.js';
import { GRPC_MESSAGE, grpcFrame } from './grpc-message.js';
import { streammeshHttpConfig } from './proxies.js';

/**
 * The paths a request can take: streammesh with the first frame check asked,
 * the bare forwarder, and for HTTP/2 and gRPC streammesh with each other
 * frame check asked ("streammesh-guard"), on listeners of the same service.
 */
export type PathName = string;
export const STREAMMESH = 'streammesh';
export const BARE = 'bare';

export interface PathRig {
  /** Where each path listens, per protocol. */
  readonly ports: Readonly<Record<Protocol, Readonly<Record<PathName, number>>>>;
  /** The gRPC request body file h2load sends. */
  readonly grpcBody: string;
  close(): Promise<void>;
}

/**
 * Starts the rig in `dir`; `frameChecks` are the streammesh listeners'
 * checkHttp2Frames: the first for the path "streammesh", each other for a
 * path of its own on the HTTP/2 and gRPC listeners.
 */
export async function startPathRig(
  dir: string,
  frameChecks: readonly Http2FrameCheck[],
  lifetimeMs: number,
): Promise<PathRig> {
  const grpcBody = join(dir, 'grpc-request.bin');
  await writeFile(grpcBody, grpcFrame(GRPC_MESSAGE));
  const backends = { http1: await freePort(), http2: await freePort(), grpc: await freePort() };
  const nginx = await startNginx(dir, backends, lifetimeMs);
  const service = new HttpService(pino({ level: 'warn' }), new Registry());
  const bare = {
    http1: bareHttp1Server(backends.http1),
    http2: bareHttp2Server(backends.http2),
    grpc: bareHttp2Server(backends.grpc),
  };
  const close = async (): Promise<void> => {
    await service.close();
    for (const server of Object.values(bare)) server.close();
    await nginx.stop();
  };
  try {
    const [first = 'nghttp2', ...others] = frameChecks;
    await service.apply(httpSchema.parse(proxyConfig(backends, first, others)));
    const portsOf = async (protocol: Protocol): Promise<Record<PathName, number>> => ({
      [STREAMMESH]: listenerPort(service, protocol),
      [BARE]: await listen(bare[protocol]),
      ...Object.fromEntries(
        (protocol === 'http1' ? [] : others).map((check) => [
          `${STREAMMESH}-${check}`,
          listenerPort(service, `${protocol}-${check}`),
        ]),
      ),
    });
    const ports = {
      http1: await portsOf('http1'),
      http2: await portsOf('http2'),
      grpc: await portsOf('grpc'),
    };
    return { ports, grpcBody, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * bench:http's proxy.http config on ports the system picks, its listeners
 * with the frame check `first`, and for each of `others` a copy of the
 * HTTP/2 and gRPC listeners and their routes ("<protocol>-<check>").
 */
function proxyConfig(
  backends: Readonly<Record<Protocol, number>>,
  first: Http2FrameCheck,
  others: readonly Http2FrameCheck[],
): object {
  const config = streammeshHttpConfig({ http1: 0, http2: 0, grpc: 0 }, backends) as {
    listeners: Record<string, unknown>[];
    routes: Record<string, unknown>[];
  };
  const copies = others.flatMap((check) =>
    (['http2', 'grpc'] as const).map((protocol) => ({ check, protocol })),
  );
  const copyOf = (protocol: string, check: Http2FrameCheck): string => `${protocol}-${check}`;
  return {
    ...config,
    listeners: [
      ...config.listeners.map((listener) => ({ ...listener, checkHttp2Frames: first })),
      ...copies.map(({ check, protocol }) => ({
        ...config.listeners.find((listener) => listener['name'] === protocol),
        name: copyOf(protocol, check),
        checkHttp2Frames: check,
      })),
    ],
    routes: [
      ...config.routes,
      ...copies.map(({ check, protocol }) => ({
        ...config.routes.find((route) => route['listener'] === protocol),
        name: copyOf(protocol, check),
        listener: copyOf(protocol, check),
      })),
    ],
  };
}

function listenerPort(service: HttpService, name: string): number {
  const listener = service.listeners.get(name);
  if (listener === undefined) throw new Error(`no listener ${name}`);
  return listener.address.port;
}

async function listen(server: {
  listen(port: number, host: string, done: () => void): unknown;
  address(): AddressInfo | string | null;
}): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
