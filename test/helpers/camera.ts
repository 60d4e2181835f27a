/**
 * What the camera source tests share: a listener that records what the
 * source told it, a logger whose lines the tests can read, and the counts of
 * timers and sockets a closed source must give back.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { SourceDescription, SourceListener } from '../../src/media/source/media-source.js';
import { waitFor } from './process.js';

export class RecordingListener implements SourceListener {
  /** 'ready' and 'down: <reason>' in order, then any event after `closedAt` is a bug. */
  readonly events: string[] = [];
  readonly descriptions: SourceDescription[] = [];
  readonly rtpByTrack = new Map<number, number>();
  rtcpPackets = 0;
  /** Events (any kind) received after markClosed(). */
  eventsAfterClose = 0;
  #closed = false;

  ready(description: SourceDescription): void {
    this.#count();
    this.events.push('ready');
    this.descriptions.push(description);
  }

  rtp(track: number, packet: Buffer): void {
    this.#count();
    if (packet.length < 12) throw new Error('runt RTP reached the listener');
    this.rtpByTrack.set(track, (this.rtpByTrack.get(track) ?? 0) + 1);
  }

  rtcp(_track: number, _packet: Buffer): void {
    this.#count();
    this.rtcpPackets += 1;
  }

  down(reason: string): void {
    this.#count();
    this.events.push(`down: ${reason}`);
  }

  rtpPackets(track = 0): number {
    return this.rtpByTrack.get(track) ?? 0;
  }

  markClosed(): void {
    this.#closed = true;
  }

  /** ready and down strictly alternate, starting with ready. */
  alternates(): boolean {
    return this.events.every((event, i) => (i % 2 === 0) === (event === 'ready'));
  }

  async waitForEvents(count: number, timeoutMs: number): Promise<void> {
    await waitFor(
      () => (this.events.length >= count ? true : undefined),
      timeoutMs,
      () => `${count} events, got ${JSON.stringify(this.events)}`,
    );
  }

  async waitForRtp(count: number, timeoutMs: number, track = 0): Promise<void> {
    await waitFor(
      () => (this.rtpPackets(track) >= count ? true : undefined),
      timeoutMs,
      () => `${count} RTP packets on track ${track}, got ${this.rtpPackets(track)}`,
    );
  }

  #count(): void {
    if (this.#closed) this.eventsAfterClose += 1;
  }
}

/** A pino logger at debug level whose output the test can search (for leaked passwords). */
export function capturingLogger(): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return {
    log: pino({ level: process.env['CAMERA_TEST_LOG'] ?? 'debug' }, stream),
    text: () => chunks.join(''),
  };
}

/** Live timers and sockets of this process, by kind: a closed source must leave none behind. */
export function liveHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'Timeout' || kind === 'UDPWRAP' || kind === 'TCPSocketWrap') {
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
  }
  return counts;
}

/** Waits until the live handles are back to `baseline` (closing sockets takes a tick). */
export async function waitForHandles(
  baseline: Record<string, number>,
  timeoutMs = 2000,
): Promise<void> {
  const same = (): boolean =>
    ['Timeout', 'UDPWRAP', 'TCPSocketWrap'].every(
      (kind) => (liveHandles()[kind] ?? 0) <= (baseline[kind] ?? 0),
    );
  await waitFor(
    () => (same() ? true : undefined),
    timeoutMs,
    () => `handles back to ${JSON.stringify(baseline)}, have ${JSON.stringify(liveHandles())}`,
  );
}
