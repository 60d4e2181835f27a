/**
 * The control plane's own admin routes: read and write the config, list
 * nodes and placements.
 * A write (`PUT /config`, YAML or JSON body) needs the admin token (checked
 * before the body is read), is validated like a file — pre-scanned for size
 * and nesting, then parsed on a worker thread under a deadline, so no body
 * holds the event loop or ends the process — and, if good, is pushed to
 * every connected node at once.
 */
import type { AdminServer } from '../shared/admin/index.js';
import { parseConfigTextIsolated, redactSecrets } from '../config/index.js';
import { ConfigError } from '../shared/errors.js';
import type { ConfigStore } from './config-push/index.js';
import type { PlacementService } from './placement/index.js';
import type { Registry } from './registry/index.js';

export function addControlPlaneRoutes(
  admin: AdminServer,
  store: ConfigStore,
  registry: Registry,
  placements: PlacementService,
): void {
  // The config holds secrets (SRTP keys, RTSP passwords and tokens, camera
  // credentials): shown redacted, in full only with ?reveal=true and the token.
  admin.route('GET', '/config', (request) => {
    const reveal = request.url.searchParams.get('reveal') === 'true';
    if (reveal && !request.authorized()) {
      return { status: 401, body: { error: 'GET /config?reveal=true needs the admin token' } };
    }
    const { config } = store.current;
    return {
      status: 200,
      body: {
        version: store.current.version,
        origin: store.current.origin,
        updatedAt: store.current.updatedAt,
        lastReloadError: store.lastReloadError ?? null,
        config: reveal ? config : redactSecrets(config),
      },
    };
  });

  admin.route(
    'PUT',
    '/config',
    async (request) => {
      let config;
      try {
        config = await parseConfigTextIsolated(await request.body(), 'PUT /config');
      } catch (error) {
        if (error instanceof ConfigError) {
          return { status: 400, body: { error: error.message, issues: error.issues } };
        }
        throw error;
      }
      const changed = store.set(config, 'admin API');
      return { status: 200, body: { version: store.current.version, changed } };
    },
    { access: 'token' },
  );

  admin.route('GET', '/nodes', () => ({ status: 200, body: { nodes: registry.list() } }));
  admin.route('GET', '/stats', () => ({ status: 200, body: { nodes: registry.stats() } }));
  // Which proxy carries which session, sorted by key, and each proxy's keys against its bound.
  admin.route('GET', '/placements', () => ({ status: 200, body: placements.view() }));
}
