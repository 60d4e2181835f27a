/**
 * Protocols, targets and the addresses a benchmark run sends to: one listener
 * per protocol on every target, so the three protocols never share a socket.
 */
import { GRPC_METHOD_PATH } from './grpc-message.js';

export const PROTOCOLS = ['http1', 'http2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const TARGETS = ['direct', 'haproxy', 'streammesh'] as const;
export type TargetName = (typeof TARGETS)[number];

/** The proxies whose maxima set the common rate of the latency phase. */
export const PROXIES: readonly TargetName[] = ['haproxy', 'streammesh'];

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
