import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client's default gauges whose names end in `_total` although they are
 * not counters (promtool: "non-counter metrics should not have _total
 * suffix"). Each is the sum over `type` of a gauge that stays:
 * nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
 */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** A metrics registry per process: Node's process metrics plus the role's own. */
export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
  return registry;
}

/** Metrics as `Registry.getMetricsAsJSON()` gives them: what crosses a thread boundary. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * Metrics kept in another registry that this process exposes too (a worker
 * thread's). Resolves to [] rather than failing: a scrape must still answer
 * with what this thread has.
 */
export type MetricsSource = () => Promise<MetricsJson>;

/**
 * The exposition text of `registry` together with `sources`. Series of the
 * same name and labels are summed (a listener budget counter kept in two
 * threads is one series), as prom-client's cluster aggregation does.
 */
export async function exposeMetrics(
  registry: Registry,
  sources: readonly MetricsSource[],
): Promise<string> {
  if (sources.length === 0) return registry.metrics();
  const [own, ...others] = await Promise.all([
    registry.getMetricsAsJSON(),
    ...sources.map((source) => source()),
  ]);
  // prom-client drops a metric marked `omit` (process_start_time_seconds)
  // from an aggregate, as it cannot be summed over workers; here this
  // process's own is the one value, so it is kept as it is.
  const kept = own.map((metric) =>
    metric.aggregator === 'omit' ? { ...metric, aggregator: 'first' as const } : metric,
  );
  return AggregatorRegistry.aggregate([kept, ...others]).metrics();
}
