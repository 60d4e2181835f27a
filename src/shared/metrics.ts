import { Registry, collectDefaultMetrics } from 'prom-client';

/** A metrics registry per process: Node's process metrics plus the role's own. */
export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  return registry;
}
