/**
 * Worker CPU in the signaling node's load report: cores are CPU time grown
 * over wall time passed, per worker process, the report carries the busiest
 * worker's, a restarted worker (new pid) has no figure until its second
 * sample, and a report carries the sample taken for the previous one (asking
 * the workers is asynchronous). The real workers' rusage is read in the
 * pipe-set integration test. Overloaded (for the doors) is any figure over
 * its declared capacity, or the busiest worker over one core, and only once
 * both a report and a capacity are known.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOverloaded, signalingLoad } from '../../../signaling/load-report.js';
import { WorkerCpuSampler, type WorkerCpuTime } from '../../../signaling/sfu/index.js';
import { EMPTY_SNAPSHOT } from '../../../signaling/stats/index.js';

class FakeClock {
  ms = 0;
  now(): number {
    return this.ms;
  }
}

const time = (index: number, pid: number, cpuMs: number): WorkerCpuTime => ({
  index,
  pid,
  cpuMs,
});

describe('WorkerCpuSampler', () => {
  it('reports cores over the interval and the busiest worker', () => {
    const clock = new FakeClock();
    const sampler = new WorkerCpuSampler(clock);
    assert.equal(sampler.update([time(0, 100, 5_000), time(1, 101, 7_000)]), 0);
    clock.ms += 2_000;
    // Worker 0 used 500 ms in 2 s (0.25 core), worker 1 1500 ms (0.75 core).
    const busiest = sampler.update([time(0, 100, 5_500), time(1, 101, 8_500)]);
    assert.equal(busiest, 0.75);
    assert.deepEqual(
      [...sampler.cores],
      [
        [100, 0.25],
        [101, 0.75],
      ],
    );
  });

  it('gives a restarted worker no figure until its second sample, and drops a dead one', () => {
    const clock = new FakeClock();
    const sampler = new WorkerCpuSampler(clock);
    sampler.update([time(0, 100, 9_000), time(1, 101, 1_000)]);
    clock.ms += 1_000;
    // Slot 0 restarted: pid 200 starts from 10 ms, far below pid 100's 9000.
    sampler.update([time(0, 200, 10), time(1, 101, 1_100)]);
    assert.deepEqual([...sampler.cores], [[101, 0.1]]);
    clock.ms += 1_000;
    sampler.update([time(0, 200, 610)]);
    assert.deepEqual([...sampler.cores], [[200, 0.6]]);
    assert.equal(sampler.busiestCores, 0.6);
  });

  it('never reports negative cores, nor divides by no time', () => {
    const clock = new FakeClock();
    const sampler = new WorkerCpuSampler(clock);
    sampler.update([time(0, 100, 500)]);
    assert.equal(sampler.update([time(0, 100, 600)]), 0, 'no wall time passed');
    clock.ms += 1_000;
    assert.equal(sampler.update([time(0, 100, 400)]), 0);
  });

  it('polls one sample at a time and keeps the last figure when a poll fails', async () => {
    const clock = new FakeClock();
    const sampler = new WorkerCpuSampler(clock);
    let asked = 0;
    let answer: (times: WorkerCpuTime[]) => void = () => undefined;
    const source = {
      resourceUsage: () => {
        asked += 1;
        return new Promise<WorkerCpuTime[]>((resolve) => {
          answer = resolve;
        });
      },
    };
    sampler.poll(source);
    sampler.poll(source);
    assert.equal(asked, 1, 'a second poll while one is in flight asks nothing');
    answer([time(0, 100, 0)]);
    await Promise.resolve();
    clock.ms += 1_000;
    sampler.poll(source);
    answer([time(0, 100, 300)]);
    await Promise.resolve();
    assert.equal(sampler.busiestCores, 0.3);
    sampler.poll({ resourceUsage: () => Promise.reject(new Error('pool closed')) });
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(sampler.busiestCores, 0.3);
    assert.equal(asked, 2);
  });
});

describe('signalingLoad', () => {
  it('carries producers, consumers and the previous worker sample', async () => {
    const clock = new FakeClock();
    const sampler = new WorkerCpuSampler(clock);
    let cpuMs = 0;
    const pool = {
      resourceUsage: () => Promise.resolve([time(0, 42, cpuMs)]),
    };
    const load = signalingLoad(() => EMPTY_SNAPSHOT, { workers: () => pool, workerCpu: sampler });
    const first = load.measure();
    assert.equal(first.workerCpuCores, 0);
    assert.equal(first.producers + first.consumers, first.sessions);
    await Promise.resolve();
    clock.ms += 1_000;
    cpuMs = 900;
    // This report starts the second sample; it carries the figure known before it.
    assert.equal(load.measure().workerCpuCores, 0);
    await Promise.resolve();
    assert.equal(load.measure().workerCpuCores, 0.9);
  });

  it('reports 0 worker cores before the pool exists', () => {
    const load = signalingLoad(() => EMPTY_SNAPSHOT, { workers: () => undefined });
    assert.equal(load.measure().workerCpuCores, 0);
  });

  it('is overloaded only past a declared figure or one worker core, and not before a report', async () => {
    let cpuMs = 0;
    const clock = new FakeClock();
    const pool = { resourceUsage: () => Promise.resolve([time(0, 42, cpuMs)]) };
    const load = signalingLoad(() => EMPTY_SNAPSHOT, {
      workers: () => pool,
      workerCpu: new WorkerCpuSampler(clock),
    });
    const capacity = { packetsPerSecond: 100, bitrateBps: 1_000, sessions: 2 };
    assert.equal(load.overloaded(), false, 'nothing measured yet');
    load.measure();
    assert.equal(load.overloaded(), false, 'no capacity declared yet');
    load.capacity({ signaling: { capacity } } as Parameters<typeof load.capacity>[0]);
    assert.equal(load.overloaded(), false, 'an idle node');
    // The busiest worker past one core: 1.2 s of CPU in 1 s (two reports to carry it).
    await Promise.resolve();
    clock.ms += 1_000;
    cpuMs = 1_200;
    load.measure();
    await Promise.resolve();
    load.measure();
    assert.equal(load.overloaded(), true, 'a worker past one core');

    const idle = {
      packetsPerSecond: 0,
      bitrateBps: 0,
      sessions: 0,
      producers: 0,
      consumers: 0,
      workerCpuCores: 0,
    };
    assert.equal(isOverloaded(idle, capacity), false);
    assert.equal(
      isOverloaded({ ...idle, sessions: 2 }, capacity),
      false,
      'at capacity is not over',
    );
    assert.equal(isOverloaded({ ...idle, sessions: 3 }, capacity), true);
    assert.equal(isOverloaded({ ...idle, packetsPerSecond: 101 }, capacity), true);
    assert.equal(isOverloaded({ ...idle, bitrateBps: 1_001 }, capacity), true);
    assert.equal(isOverloaded({ ...idle, workerCpuCores: 0.99 }, capacity), false);
  });
});
