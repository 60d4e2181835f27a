/**
 * Protocols, targets and the addresses a benchmark run sends to: one listener
 * per protocol on every target, so the three protocols never share a socket.
 */
import { GRPC_METHOD_PATH } from './grpc-message.js';

export const PROTOCOLS = ['http1', 'http2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * direct: no proxy; bare-node: bare-proxy.ts (node:http/node:http2, no
 * proxy logic); haproxy / haproxy-w2: nbthread 1 / 2; streammesh /
 * streammesh-w2: proxy.workers 1 / 2 (STREAMMESH_PROXY_WORKERS).
 */
export const TARGETS = [
  'direct',
  'bare-node',
  'haproxy',
  'haproxy-w2',
  'streammesh',
  'streammesh-w2',
] as const;
export type TargetName = (typeof TARGETS)[number];

/** The targets the two-proxy runs (--mtls, --two-hop) know. */
export const HOP_TARGETS: readonly TargetName[] = ['direct', 'haproxy', 'streammesh'];

/** The proxies whose maxima set the latency rate when streammesh was not measured. */
export const PROXIES: readonly TargetName[] = ['haproxy', 'streammesh', 'bare-node'];

/** Threads of work of each proxy target (HAProxy's nbthread, streammesh's proxy.workers). */
export const WORKERS: Readonly<Partial<Record<TargetName, number>>> = {
  'bare-node': 1,
  haproxy: 1,
  'haproxy-w2': 2,
  streammesh: 1,
  'streammesh-w2': 2,
};

/** host:port on 127.0.0.1 for each protocol. */
export type Listeners = Readonly<Record<Protocol, number>>;

export function url(port: number, protocol: Protocol): string {
  return `http://127.0.0.1:${port}${protocol === 'grpc' ? GRPC_METHOD_PATH : '/'}`;
}

export function parseList<T extends string>(
  text: string,
  allowed: readonly T[],
  option: string,
): T[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new Error(`${option}: "${item}" is not one of ${allowed.join(', ')}`);
    }
  }
  if (items.length === 0) throw new Error(`${option}: empty`);
  return [...new Set(items)] as T[];
}
