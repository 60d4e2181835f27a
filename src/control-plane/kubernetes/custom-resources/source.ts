/**
 * The custom-resources source of a control plane with
 * controlPlane.registry: kubernetes: Cameras and MediaRoutes of its
 * namespace, listed and watched (list-watch.ts), laid over the file's config
 * as the "custom-resources" layer and given status conditions
 * (reconciler.ts).
 *
 * The starter resolves once both kinds were listed and that pass laid them
 * (bounded: initial-lists.ts), so the control plane serves nodes no config
 * without them. A pass runs on the next turn of the event loop after anything it depends
 * on moves (a watch event, a new config version), and every second while an
 * accepted object waits for proxies to acknowledge it or a status write
 * failed: the registry has no event for acknowledgements.
 *
 * Metrics: streammesh_custom_resources{kind, state} (accepted, refused) and
 * streammesh_custom_resources_watch_restarts_total{kind, reason}.
 */
import { Counter, Gauge } from 'prom-client';
import { errorMessage } from '../../../shared/errors.js';
import type { ConfigStore } from '../../config-push/index.js';
import type { RunningSource, SourceStarter } from '../sources.js';
import { GROUP, KINDS, VERSION } from './kinds.js';
import { initialLists } from '../initial-lists.js';
import { apiWatchClient, ListWatch } from '../list-watch.js';
import { Reconciler } from './reconciler.js';
import { apiStatusPatcher, StatusWriter } from './status-writer.js';

/** How often a pass runs while something waits for acknowledgements or a status write. */
export const RECHECK_MS = 1_000;

export const startCustomResources: SourceStarter = async (context) => {
  const { kube, store, registry, metrics, log } = context;
  const gauge = new Gauge({
    name: 'streammesh_custom_resources',
    help: 'Camera and MediaRoute objects of the control plane namespace, accepted (laid in the config) or refused (invalid or conflicted).',
    labelNames: ['kind', 'state'],
    registers: [metrics],
  });
  const restarts = new Counter({
    name: 'streammesh_custom_resources_watch_restarts_total',
    help: 'Watches of custom resources started again: closed by the API server, gone (410: listed again) or after an error.',
    labelNames: ['kind', 'reason'],
    registers: [metrics],
  });

  let closed = false;
  let immediate: NodeJS.Immediate | undefined;
  let recheck: NodeJS.Timeout | undefined;

  const pass = (): void => {
    immediate = undefined;
    if (closed) return;
    try {
      const result = reconciler.pass();
      for (const [kind, count] of result.counts) {
        gauge.set({ kind, state: 'accepted' }, count.accepted);
        gauge.set({ kind, state: 'refused' }, count.refused);
      }
      if (result.pending) later();
    } catch (error) {
      // A store that throws something else than a ConfigError, or a bug: keep the source alive.
      log.error({ reason: errorMessage(error) }, 'custom resources: pass failed; retrying');
      later();
    }
  };
  const schedule = (): void => {
    if (!closed) immediate ??= setImmediate(pass);
  };
  const later = (): void => {
    if (closed || recheck !== undefined) return;
    recheck = setTimeout(() => {
      recheck = undefined;
      schedule();
    }, RECHECK_MS);
    recheck.unref();
  };

  const writer = new StatusWriter(
    apiStatusPatcher(
      kube.kubeConfig,
      Object.fromEntries(KINDS.map((kind) => [kind.kind, kind.plural])),
    ),
    log,
    later,
  );
  const reconciler = new Reconciler({
    store,
    nodes: () =>
      [...registry.records()].map((record) => ({
        role: record.role,
        state: registry.stateOf(record),
        ackedVersion: record.ackedVersion,
      })),
    statuses: writer,
  });

  const onChange = (snapshot: ConfigStore['current']): void => {
    reconciler.served(snapshot.version);
    schedule();
  };
  store.on('change', onChange);

  const watches = KINDS.map(
    (kind) =>
      new ListWatch({
        client: apiWatchClient(kube.kubeConfig, {
          group: GROUP,
          version: VERSION,
          namespace: kube.namespace,
          plural: kind.plural,
        }),
        onList: (items) => {
          reconciler.listed(kind.kind, items);
          schedule();
        },
        onEvent: (type, object) => {
          if (type === 'DELETED') reconciler.deleted(kind.kind, object);
          else reconciler.upserted(kind.kind, object);
          schedule();
        },
        onRestart: (reason) => restarts.inc({ kind: kind.kind, reason }),
        log,
      }),
  );
  for (const watch of watches) watch.start();
  log.info(
    {
      namespace: kube.namespace,
      kinds: KINDS.map((kind) => kind.plural),
      api: `${GROUP}/${VERSION}`,
    },
    'custom resources: watching',
  );

  await initialLists(
    watches.map((watch) => watch.firstList),
    { source: 'custom_resources', metrics, log },
  );
  // Laid now, not on the next turn: the config served from here on holds them.
  if (immediate !== undefined) clearImmediate(immediate);
  pass();

  const running: RunningSource = {
    close: async () => {
      closed = true;
      if (immediate !== undefined) clearImmediate(immediate);
      clearTimeout(recheck);
      store.off('change', onChange);
      await Promise.all(watches.map(async (watch) => watch.close()));
    },
  };
  return running;
};
