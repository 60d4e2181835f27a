/**
 * What a node reports as its load every second: the role measures its media
 * (packets/s, bitrate, sessions; a signaling node also its mediasoup
 * producers, consumers and busiest worker's CPU) and declares its capacity;
 * the node agent adds the CPU its process used.
 */
import type { MeshConfig } from '../config/index.js';
import type { Capacity } from '../protocol/mesh/index.js';

export interface LoadFigures {
  readonly packetsPerSecond: number;
  readonly bitrateBps: number;
  readonly sessions: number;
  /** mediasoup producers and consumers now, pipes included; absent (reported 0) without mediasoup. */
  readonly producers?: number;
  readonly consumers?: number;
  /**
   * Cores the busiest mediasoup worker used over the interval (a worker is
   * one thread: near 1 it is saturated, whatever the Node process uses);
   * absent (reported 0) without mediasoup.
   */
  readonly workerCpuCores?: number;
}

export interface LoadSource {
  /** The figures since the previous call (rates over that interval). */
  measure(): LoadFigures;
  /** The capacity the config declares for this role. */
  capacity(config: MeshConfig): Capacity;
}

/** CPU cores used by this process between two calls (user + system time over wall time). */
export class CpuSampler {
  #usage = process.cpuUsage();
  #at = process.hrtime.bigint();

  cores(): number {
    const usage = process.cpuUsage(this.#usage);
    const now = process.hrtime.bigint();
    const wallMicros = Number(now - this.#at) / 1000;
    this.#usage = process.cpuUsage();
    this.#at = now;
    return wallMicros <= 0 ? 0 : (usage.user + usage.system) / wallMicros;
  }
}
