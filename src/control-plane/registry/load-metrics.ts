/**
 * The latest load report of each node as gauges:
 * streammesh_control_plane_node_load{node,node_role,measure} (node_role as in
 * streammesh_control_plane_nodes: `role` is the registry-wide process label). Labels stay bounded:
 * `node` is a registered node's id (the registry holds at most maxNodes and
 * forgets silent ones, whose series then leave), `measure` one of a fixed set.
 */
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { LoadRecord, Registry } from './registry.js';

const measures: readonly [string, (load: LoadRecord) => number][] = [
  ['packets_per_second', (load) => load.packetsPerSecond],
  ['bits_per_second', (load) => load.bitrateBps],
  ['cpu_cores', (load) => load.cpuCores],
  ['sessions', (load) => load.sessions],
  ['capacity_packets_per_second', (load) => load.capacity.packetsPerSecond],
  ['capacity_bits_per_second', (load) => load.capacity.bitrateBps],
  ['capacity_sessions', (load) => load.capacity.sessions],
];

export function registerLoadMetrics(metrics: MetricsRegistry, registry: Registry): void {
  new Gauge({
    name: 'streammesh_control_plane_node_load',
    help: "Each node's latest load report and declared capacity, by measure.",
    labelNames: ['node', 'node_role', 'measure'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const record of registry.records()) {
        const { load } = record;
        if (load === undefined) continue;
        for (const [measure, value] of measures) {
          this.set({ node: record.id, node_role: record.role, measure }, value(load));
        }
      }
    },
  });
}
