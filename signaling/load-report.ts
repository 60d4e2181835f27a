/**
 * The signaling node's load for the control plane, from the media stats the
 * collector samples (it does not ask the workers again): packets per second
 * in and out (growth of each Producer's and Consumer's packet count between
 * two distinct samples), bits per second (the streams' bitrates summed), and
 * sessions (live Producers + Consumers, from the census), also reported apart
 * (pipe producers and consumers included: they cost a worker as much).
 *
 * workerCpuCores is the busiest mediasoup worker's CPU: the node agent's own
 * CPU figure is the Node process only, while the media runs in the workers,
 * and a room is as fast as the one worker thread holding it. Asking the
 * workers is asynchronous, so each report starts a sample and carries the
 * previous one (one report interval old). The pool is created after the node
 * joins the mesh, hence a getter; without one the figure is 0.
 *
 * overloaded() tells the doors (server/door.ts) whether the last report was
 * over the capacity it declared, by the rule the control plane moves rooms
 * off a node with (signalingFillOf: any of packets/s, bit/s and sessions
 * over its declared figure, or the busiest worker over one core).
 */
import type { MeshConfig } from '../src/config/index.js';
import type { Capacity } from '../src/protocol/mesh/index.js';
import type { LoadFigures, LoadSource } from '../src/node-agent/index.js';
import { WorkerCpuSampler, censusCounts, type WorkerCpuSource } from './sfu/index.js';
import type { MediaStatsSnapshot } from './stats/index.js';

/** LoadFigures with what only a signaling node reports. */
export interface SignalingLoadFigures extends LoadFigures {
  readonly producers: number;
  readonly consumers: number;
  readonly workerCpuCores: number;
}

export interface SignalingLoadOptions {
  /** The worker pool once it exists (WorkerPool.resourceUsage). */
  readonly workers?: () => WorkerCpuSource | undefined;
  /** Default: a sampler on the monotonic clock; tests pass their own. */
  readonly workerCpu?: WorkerCpuSampler;
}

export interface SignalingLoadSource extends LoadSource {
  measure(): SignalingLoadFigures;
  /** Whether the last figures measured were over the capacity last declared; false before. */
  overloaded(): boolean;
}

/** Whether `figures` exceed `capacity` (the control plane's fill above 1). */
export function isOverloaded(figures: SignalingLoadFigures, capacity: Capacity): boolean {
  return (
    figures.packetsPerSecond > capacity.packetsPerSecond ||
    figures.bitrateBps > capacity.bitrateBps ||
    figures.sessions > capacity.sessions ||
    figures.workerCpuCores > 1
  );
}

export function signalingLoad(
  latest: () => MediaStatsSnapshot,
  options: SignalingLoadOptions = {},
): SignalingLoadSource {
  let previous: MediaStatsSnapshot | undefined;
  let packetsPerSecond = 0;
  const workerCpu = options.workerCpu ?? new WorkerCpuSampler();
  let last: SignalingLoadFigures | undefined;
  let declared: Capacity | undefined;
  return {
    measure(): SignalingLoadFigures {
      const current = latest();
      // The collector samples every 2 s: between two samples the rate stands.
      if (previous === undefined || current.at !== previous.at) {
        packetsPerSecond = previous === undefined ? 0 : packetRate(previous, current);
        previous = current;
      }
      const census = censusCounts();
      const workers = options.workers?.();
      if (workers !== undefined) workerCpu.poll(workers);
      last = {
        packetsPerSecond,
        bitrateBps: current.streams.reduce((sum, stream) => sum + stream.bitrateBps, 0),
        sessions: census.producers + census.consumers,
        producers: census.producers,
        consumers: census.consumers,
        workerCpuCores: workerCpu.busiestCores,
      };
      return last;
    },
    capacity: (config: MeshConfig) => {
      declared = config.signaling.capacity;
      return declared;
    },
    overloaded: () => last !== undefined && declared !== undefined && isOverloaded(last, declared),
  };
}

function packetRate(before: MediaStatsSnapshot, after: MediaStatsSnapshot): number {
  const seconds = (Date.parse(after.at) - Date.parse(before.at)) / 1000;
  if (!(seconds > 0)) return 0;
  const earlier = new Map(before.streams.map((stream) => [stream.id, stream.packets]));
  let packets = 0;
  for (const stream of after.streams) {
    const was = earlier.get(stream.id) ?? 0;
    packets += stream.packets >= was ? stream.packets - was : stream.packets;
  }
  return packets / seconds;
}
