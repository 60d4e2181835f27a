/**
 * The media sessions the config in force defines, as placement keys:
 *
 *   camera/<path name>   an RTSP path whose source is a camera URL (pulled by its owner)
 *   route/<route name>   a relay route (proxy.routes)
 *
 * A `publisher` path has no key: its session starts where the publisher
 * connects, not where the control plane puts it. The built-in demo path is
 * not in the config's paths and has none either. The prefix keeps a camera
 * and a route of the same name apart; path names may hold "/" (cam/front),
 * which stays in the key after the first one. Keys are the names of the
 * PLACEMENT resources (at most 253 characters: a path name is at most 128,
 * a route name shorter).
 */
import type { MeshConfig } from '../../config/index.js';

export const CAMERA_KEY_PREFIX = 'camera/';
export const ROUTE_KEY_PREFIX = 'route/';

/** Every session key of `config`, sorted. */
export function sessionKeys(config: MeshConfig): string[] {
  const keys: string[] = [];
  for (const [name, path] of Object.entries(config.proxy.rtsp.paths)) {
    if (path.source !== 'publisher') keys.push(`${CAMERA_KEY_PREFIX}${name}`);
  }
  for (const route of config.proxy.routes) keys.push(`${ROUTE_KEY_PREFIX}${route.name}`);
  return keys.sort();
}
