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

export const PATHS = ['streammesh', 'bare'] as const;
export type PathName = (typeof PATHS)[number];

export interface PathRig {
  /** Where each path listens, per protocol. */
  readonly ports: Readonly<Record<Protocol, Readonly<Record<PathName, number>>>>;
  /** The gRPC request body file h2load sends. */
  readonly grpcBody: string;
  close(): Promise<void>;
}

/** Starts the rig in `dir`; `frameCheck` is the streammesh listeners' checkHttp2Frames. */
export async function startPathRig(
  dir: string,
  frameCheck: Http2FrameCheck | undefined,
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
    await service.apply(httpSchema.parse(proxyConfig(backends, frameCheck)));
    const ports = {
      http1: { streammesh: listenerPort(service, 'http1'), bare: await listen(bare.http1) },
      http2: { streammesh: listenerPort(service, 'http2'), bare: await listen(bare.http2) },
      grpc: { streammesh: listenerPort(service, 'grpc'), bare: await listen(bare.grpc) },
    };
    return { ports, grpcBody, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** bench:http's proxy.http config on ports the system picks, with the frame check as asked. */
function proxyConfig(
  backends: Readonly<Record<Protocol, number>>,
  frameCheck: Http2FrameCheck | undefined,
): object {
  const config = streammeshHttpConfig({ http1: 0, http2: 0, grpc: 0 }, backends) as {
    listeners: Record<string, unknown>[];
  };
  return {
    ...config,
    listeners: config.listeners.map((listener) => ({
      ...listener,
      checkHttp2Frames: frameCheck,
    })),
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
