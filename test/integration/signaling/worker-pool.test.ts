/**
 * The SFU worker pool with real mediasoup worker processes: placement on the
 * least-loaded worker, disjoint port slices, a SIGKILLed worker reported with
 * its Routers and restarted, and close() leaving no process behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { types } from 'mediasoup';
import {
  WorkerPool,
  WorkerPoolError,
  splitPortRange,
  type WorkerPoolEvents,
  type WorkerPoolOptions,
} from '../../../signaling/sfu/index.js';
import { at } from '../../helpers/defined.js';

const log = pino({ level: 'silent' });
const codecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

function options(overrides: Partial<WorkerPoolOptions> = {}): WorkerPoolOptions {
  return {
    size: 2,
    rtcMinPort: 47000,
    rtcMaxPort: 47999,
    log,
    restartBackoff: { baseMs: 50, maxMs: 200 },
    ...overrides,
  };
}

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function nextEvent<K extends keyof WorkerPoolEvents>(
  pool: WorkerPool,
  event: K,
  timeoutMs = 10_000,
): Promise<WorkerPoolEvents[K]> {
  return (await once(pool, event, {
    signal: AbortSignal.timeout(timeoutMs),
  })) as WorkerPoolEvents[K];
}

async function withPool<T>(
  poolOptions: WorkerPoolOptions,
  body: (pool: WorkerPool) => Promise<T>,
): Promise<T> {
  const pool = await WorkerPool.create(poolOptions);
  try {
    return await body(pool);
  } finally {
    await pool.close();
  }
}

describe('splitPortRange', () => {
  it('splits a range into disjoint slices that cover it', () => {
    const slices = splitPortRange({ min: 40000, max: 40010 }, 3);
    assert.deepEqual(slices, [
      { min: 40000, max: 40002 },
      { min: 40003, max: 40005 },
      { min: 40006, max: 40010 },
    ]);
  });

  it('rejects a range too small for the workers, and a reversed one', () => {
    assert.throws(() => splitPortRange({ min: 40000, max: 40002 }, 2), {
      code: 'ERR_SFU_PORT_RANGE',
    });
    assert.throws(() => splitPortRange({ min: 40010, max: 40000 }, 1), {
      code: 'ERR_SFU_PORT_RANGE',
    });
  });
});

describe('WorkerPool', { timeout: 60_000 }, () => {
  it('refuses bad options before starting any worker', async () => {
    await assert.rejects(WorkerPool.create(options({ size: 0 })), { code: 'ERR_SFU_POOL_OPTIONS' });
    await assert.rejects(WorkerPool.create(options({ rtcMinPort: 47000, rtcMaxPort: 47002 })), {
      code: 'ERR_SFU_POOL_OPTIONS',
    });
  });

  it('places Routers on the least-loaded worker and gives each worker its own ports', async () => {
    await withPool(options(), async (pool) => {
      const [first, second] = pool.workers;
      assert.ok(first !== undefined && second !== undefined);
      assert.deepEqual(first.portRange, { min: 47000, max: 47499 });
      assert.deepEqual(second.portRange, { min: 47500, max: 47999 });
      assert.notEqual(first.pid, second.pid);

      const placed = [];
      for (let room = 0; room < 4; room += 1) {
        placed.push(await pool.createRouter(codecs, { room: `room-${room}` }));
      }
      assert.deepEqual(
        placed.map((entry) => entry.workerIndex),
        [0, 1, 0, 1],
      );
      assert.deepEqual(
        pool.workers.map((worker) => worker.routers),
        [2, 2],
      );

      // A closed Router leaves its worker's count; the next one fills the gap.
      at(placed, 3).router.close();
      assert.deepEqual(
        pool.workers.map((worker) => worker.routers),
        [2, 1],
      );
      assert.equal((await pool.createRouter(codecs, {})).workerIndex, 1);

      // Concurrent creations count as load while in flight.
      const both = await Promise.all([
        pool.createRouter(codecs, {}),
        pool.createRouter(codecs, {}),
      ]);
      assert.deepEqual(both.map((entry) => entry.workerIndex).sort(), [0, 1]);

      // A transport that names no port range binds in its worker's slice.
      for (const entry of [at(placed, 0), at(placed, 1)]) {
        const transport = await entry.router.createPlainTransport({
          listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        });
        const slice = at(pool.workers, entry.workerIndex).portRange;
        assert.ok(
          transport.tuple.localPort >= slice.min && transport.tuple.localPort <= slice.max,
          `port ${transport.tuple.localPort} outside worker ${entry.workerIndex}'s [${slice.min}, ${slice.max}]`,
        );
        transport.close();
      }
    });
  });

  it('reports a SIGKILLed worker with the Routers it hosted, restarts it and places on it again', async () => {
    // A fixed 300 ms restart delay, so the test can place while worker 0 is dead.
    const restartBackoff = { baseMs: 300, maxMs: 300, random: () => 0.99 };
    await withPool(options({ restartBackoff }), async (pool) => {
      const a = await pool.createRouter(codecs, { room: 'a' });
      const b = await pool.createRouter(codecs, { room: 'b' });
      const c = await pool.createRouter(codecs, { room: 'c' });
      assert.deepEqual([a.workerIndex, b.workerIndex, c.workerIndex], [0, 1, 0]);
      const oldPid = at(pool.workers, 0).pid;

      const died = nextEvent(pool, 'worker-died');
      const restarted = nextEvent(pool, 'worker-restarted');
      process.kill(oldPid, 'SIGKILL');

      const [diedIndex, error, lost] = await died;
      assert.equal(diedIndex, 0);
      assert.ok(error instanceof Error);
      assert.deepEqual(lost.map((entry) => entry.router.appData).sort(), [
        { room: 'a' },
        { room: 'c' },
      ]);
      assert.ok(lost.every((entry) => entry.router.closed));
      assert.deepEqual(
        at(lost, 0).mediaCodecs.map((codec) => codec.mimeType),
        ['audio/opus', 'video/VP8'],
      );
      assert.equal(b.router.closed, false);

      // While worker 0 is dead nothing is placed on it, even though it is empty.
      assert.equal(at(pool.workers, 0).alive, false);
      assert.equal((await pool.createRouter(codecs, { room: 'd' })).workerIndex, 1);

      const [restartedIndex, newPid] = await restarted;
      assert.equal(restartedIndex, 0);
      assert.notEqual(newPid, oldPid);
      assert.equal(pidGone(oldPid), true);
      const worker0 = at(pool.workers, 0);
      assert.deepEqual(
        {
          alive: worker0.alive,
          pid: worker0.pid,
          restarts: worker0.restarts,
          routers: worker0.routers,
        },
        { alive: true, pid: newPid, restarts: 1, routers: 0 },
      );

      const again = await pool.createRouter(codecs, { room: 'a' });
      assert.equal(again.workerIndex, 0);
      assert.equal(again.router.closed, false);
    });
  });

  it('waits for a restart when every worker is dead', async () => {
    await withPool(
      options({ size: 1, restartBackoff: { baseMs: 300, maxMs: 300, random: () => 0.99 } }),
      async (pool) => {
        const died = nextEvent(pool, 'worker-died');
        process.kill(at(pool.workers, 0).pid, 'SIGKILL');
        await died;
        const started = performance.now();
        const placed = await pool.createRouter(codecs, {});
        assert.equal(placed.workerIndex, 0);
        assert.ok(performance.now() - started > 100, 'placed before the restart delay');
        assert.equal(at(pool.workers, 0).restarts, 1);
      },
    );
  });

  it('rejects with ERR_SFU_NO_WORKER when no worker comes back in time', async () => {
    await withPool(
      options({
        size: 1,
        placementTimeoutMs: 200,
        restartBackoff: { baseMs: 60_000, maxMs: 60_000, random: () => 0.99 },
      }),
      async (pool) => {
        const died = nextEvent(pool, 'worker-died');
        process.kill(at(pool.workers, 0).pid, 'SIGKILL');
        await died;
        await assert.rejects(pool.createRouter(codecs, {}), (error: unknown) => {
          assert.ok(error instanceof WorkerPoolError);
          assert.equal(error.code, 'ERR_SFU_NO_WORKER');
          return true;
        });
      },
    );
  });

  it('close() ends every worker process and restarts nothing', async () => {
    const pool = await WorkerPool.create(options());
    await pool.createRouter(codecs, {});
    const pids = pool.workers.map((worker) => worker.pid);
    let events = 0;
    pool.on('worker-died', () => (events += 1));
    pool.on('worker-restarted', () => (events += 1));
    await pool.close();
    assert.deepEqual(
      pids.map((pid) => pidGone(pid)),
      [true, true],
    );
    assert.deepEqual(
      pool.workers.map((worker) => worker.alive),
      [false, false],
    );
    await assert.rejects(pool.createRouter(codecs, {}), { code: 'ERR_SFU_POOL_CLOSED' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(events, 0);
  });
});
