/**
 * A source's starter resolves once its first lists are laid into the store:
 * the control plane binds its gRPC port only after its starters resolved,
 * and nodes (re)connecting then — after every failover, within 200 ms — get
 * the config with the API server's objects, not the file's alone (which
 * would tear down Cameras and send a Service's traffic to the file's
 * endpoints until the lists came in).
 *
 * The wait is bounded: an API server that does not answer (down, RBAC
 * refusing the list) must not keep a control plane from serving what the
 * file holds. Past the bound the starter goes on, with a warning and
 * streammesh_control_plane_kubernetes_initial_list_timeouts_total{source}
 * counted; its lists are laid whenever they come.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../shared/log.js';

/** How long a starter waits for its first lists before the control plane serves without them. */
export const INITIAL_LIST_TIMEOUT_MS = 15_000;

const TIMEOUTS = 'streammesh_control_plane_kubernetes_initial_list_timeouts_total';

/** The counter, made by the first source to wait on this registry (exported at 0), shared by the next. */
function timeoutCounter(registry: Registry): Counter<'source'> {
  const made = registry.getSingleMetric(TIMEOUTS);
  if (made instanceof Counter) return made;
  return new Counter({
    name: TIMEOUTS,
    help: 'Kubernetes sources that started serving before their first lists came in (the API server slow, down or refusing): nodes got the config without them meanwhile.',
    labelNames: ['source'],
    registers: [registry],
  });
}

export interface InitialListsOptions {
  /** The source, for the log and the counter's label (custom_resources, endpoint_slices). */
  readonly source: string;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly timeoutMs?: number;
}

/** Resolves true once every one of `lists` did, or false past the bound (warned and counted). */
export async function initialLists(
  lists: readonly Promise<void>[],
  options: InitialListsOptions,
): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? INITIAL_LIST_TIMEOUT_MS;
  const counter = timeoutCounter(options.metrics);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const listed = await Promise.race([Promise.all(lists).then(() => true as const), expired]);
  clearTimeout(timer);
  if (!listed) {
    counter.inc({ source: options.source });
    options.log.warn(
      { source: options.source, timeoutMs },
      'kubernetes: first lists not in yet; serving without them until they come',
    );
  }
  return listed;
}
