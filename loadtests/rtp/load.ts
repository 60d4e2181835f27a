/**
 * Which programs make and take the load: the C generator and sink
 * (rtp-load.c: sendmmsg/recvmmsg, enough to saturate the C relay) or the
 * Node ones (generator.ts, receiver.ts: node:dgram, one system call per
 * datagram; they top out near 150-260k packets/s on 2 cores). Both speak
 * the same messages (messages.ts) and send the same packets (packet.ts).
 */
import { buildC } from './c-build.js';
import { forkChild, spawnLineChild, type Child } from './children.js';
import type { GeneratorConfig } from './messages.js';

export const LOAD_KINDS = ['c', 'node'] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];

export function startGenerator(kind: LoadKind, config: GeneratorConfig): Promise<Child> {
  if (kind === 'node') return forkChild('./generator.js', config);
  const flows = config.streams.map(
    (stream) =>
      `${stream.src}:${stream.dst}:${String(stream.ssrc >>> 0)}` +
      (stream.sequence === undefined ? '' : `:${String(stream.sequence)}`),
  );
  return spawnLineChild(buildC('rtp-load'), ['gen', String(config.size), flows.join(',')]);
}

export function startReceiver(kind: LoadKind, ports: readonly number[]): Promise<Child> {
  if (kind === 'node') return forkChild('./receiver.js', { ports });
  return spawnLineChild(buildC('rtp-load'), ['sink', ports.join(',')]);
}

/** The C programs when gcc builds them, else the Node ones (and why). */
export function defaultLoadKind(): { kind: LoadKind; reason?: string } {
  try {
    buildC('rtp-load');
    return { kind: 'c' };
  } catch (error) {
    return { kind: 'node', reason: error instanceof Error ? error.message : String(error) };
  }
}
