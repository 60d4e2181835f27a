/**
 * A viewer pool (a child process of run.ts): light viewers of one transport,
 * opened, counted and torn down on the driver's request. Viewers run here,
 * not in the driver and not in the process measured, so their per-packet
 * work is not billed to the proxy or the camera.
 */
import type {
  PoolClosed,
  PoolConfig,
  PoolOpened,
  PoolRequest,
  PoolSnapshot,
  Ready,
} from './messages.js';
import { POOL_MAX_LIFETIME_MS } from './messages.js';
import { LightViewer } from './viewer.js';

const config = JSON.parse(process.argv[2] ?? '{}') as PoolConfig;
let viewers: LightViewer[] = [];
let rtcp = 0;
let foreign = 0;

function reply(message: PoolOpened | PoolSnapshot | PoolClosed | Ready): void {
  process.send?.(message);
}

async function open(
  url: string,
  count: number,
  concurrency: number,
  maxFailures: number,
): Promise<PoolOpened> {
  const started = performance.now();
  const errors = new Set<string>();
  let opened = 0;
  let failed = 0;
  let next = 0;
  const handshakeMs: number[] = [];
  const worker = async (): Promise<void> => {
    while (next < count && failed <= maxFailures) {
      next += 1;
      const begun = performance.now();
      try {
        viewers.push(
          await LightViewer.open({
            url,
            transport: config.transport,
            keepaliveMs: config.keepaliveMs,
            timeoutMs: config.openTimeoutMs,
            onForeign: () => (foreign += 1),
            onRtcp: () => (rtcp += 1),
          }),
        );
        opened += 1;
        handshakeMs.push(Math.round(performance.now() - begun));
      } catch (error) {
        failed += 1;
        if (errors.size < 5) errors.add(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return {
    type: 'open',
    opened,
    failed,
    errors: [...errors],
    ms: Math.round(performance.now() - started),
    handshakeMs,
  };
}

function snapshot(): PoolSnapshot {
  return {
    type: 'snapshot',
    viewers: viewers.map((viewer) => ({
      received: viewer.counter.received,
      expected: viewer.counter.expected,
      bytes: viewer.counter.bytes,
      started: viewer.counter.firstAtMs !== undefined,
      alive: viewer.alive,
      lastTransitMs: finiteOrNull(viewer.counter.lastTransitMs),
      minTransitMs: finiteOrNull(viewer.counter.minTransitMs),
    })),
    rtcp,
    foreign,
  };
}

/** IPC is JSON: NaN and Infinity would arrive as null anyway. */
function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

async function closeAll(): Promise<PoolClosed> {
  const started = performance.now();
  const closing = viewers;
  viewers = [];
  // TEARDOWN in batches: a burst of hundreds at once is not what is measured.
  for (let i = 0; i < closing.length; i += 50) {
    await Promise.all(closing.slice(i, i + 50).map((viewer) => viewer.teardown(2_000)));
  }
  rtcp = 0;
  foreign = 0;
  return { type: 'close', closed: closing.length, ms: Math.round(performance.now() - started) };
}

process.on('message', (message: PoolRequest) => {
  switch (message.type) {
    case 'open':
      void open(message.url, message.count, message.concurrency, message.maxFailures).then(reply);
      break;
    case 'snapshot':
      reply(snapshot());
      break;
    case 'close':
      void closeAll().then(reply);
      break;
    case 'exit':
      shutdown();
  }
});
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
setTimeout(shutdown, POOL_MAX_LIFETIME_MS).unref();

function shutdown(): void {
  for (const viewer of viewers) viewer.close();
  process.exit(0);
}

reply({ type: 'ready', pid: process.pid });
