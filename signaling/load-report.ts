/**
 * The signaling node's load for the control plane, from the media stats the
 * collector samples (it does not ask the workers again): packets per second
 * in and out (growth of each Producer's and Consumer's packet count between
 * two distinct samples), bits per second (the streams' bitrates summed), and
 * sessions (live Producers + Consumers, from the census).
 */
import type { MeshConfig } from '../src/config/index.js';
import type { LoadFigures, LoadSource } from '../src/node-agent/index.js';
import { censusCounts } from './sfu/index.js';
import type { MediaStatsSnapshot } from './stats/index.js';

export function signalingLoad(latest: () => MediaStatsSnapshot): LoadSource {
  let previous: MediaStatsSnapshot | undefined;
  let packetsPerSecond = 0;
  return {
    measure(): LoadFigures {
      const current = latest();
      // The collector samples every 2 s: between two samples the rate stands.
      if (previous === undefined || current.at !== previous.at) {
        packetsPerSecond = previous === undefined ? 0 : packetRate(previous, current);
        previous = current;
      }
      const census = censusCounts();
      return {
        packetsPerSecond,
        bitrateBps: current.streams.reduce((sum, stream) => sum + stream.bitrateBps, 0),
        sessions: census.producers + census.consumers,
      };
    },
    capacity: (config: MeshConfig) => config.signaling.capacity,
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
