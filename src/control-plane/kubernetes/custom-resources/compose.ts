/**
 * Lays the valid objects over the file's config as ONE ConfigStore layer
 * ("custom-resources"), refusing those that clash:
 *
 * - with the file: a Camera whose path the file names (or "demo" while the
 *   file serves the demo camera), a MediaRoute whose name or listen address
 *   a route of the file has. The file is the operator's, so it wins; the
 *   layer checks this again each time it is laid, so a file edit that adds
 *   such a path drops the Camera rather than being refused itself.
 * - with each other: of two Cameras on one path, or two MediaRoutes on one
 *   listen address, the older (creationTimestamp, then name) keeps it.
 * - with anything else the whole-config validation finds (a rule no
 *   pre-check here covers): the store refuses the layer with a ConfigError
 *   whose issue paths (proxy.rtsp.paths.<path>..., proxy.routes[i]...) name
 *   the objects at fault; those are refused and the rest laid again. An
 *   issue that names none of them refuses them all, with its reason:
 *   nothing unvalidated is laid.
 */
import {
  DEMO_PATH,
  type MeshConfig,
  type RouteConfig,
  type RtspPathConfig,
} from '../../../config/index.js';
import type { ConfigLayer } from '../../config-push/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { describeObject, type CustomObject } from './kinds.js';
import { boundedMessage } from './validate.js';

export const LAYER_NAME = 'custom-resources';

export type Entry =
  | {
      readonly object: CustomObject;
      readonly kind: 'Camera';
      readonly path: string;
      readonly config: RtspPathConfig;
    }
  | { readonly object: CustomObject; readonly kind: 'MediaRoute'; readonly route: RouteConfig };

/** What the layer needs of the ConfigStore. */
export interface LayerTarget {
  readonly base: MeshConfig;
  setLayer(name: string, layer: ConfigLayer | undefined, origin: string): boolean;
}

export interface Composition {
  /** The entries in the layer, as it was last laid. */
  readonly laid: readonly Entry[];
  /** uid -> why the object is not laid (Accepted False, reason Conflicted). */
  readonly conflicts: ReadonlyMap<string, string>;
}

/** What one application of the layer added; read to attribute a refusal, and by programmed.ts. */
interface Applied {
  entries: Entry[];
  /** proxy.routes of the config the layer was laid over: the layer's routes follow them. */
  routesBefore: number;
}

export class CustomResourceLayer {
  readonly #target: LayerTarget;
  /** The application in the served config: the last one the store took. */
  #applied: Applied = { entries: [], routesBefore: 0 };
  /**
   * The last application, taken or not: the store runs the layer before it
   * validates the result, and may refuse it (a bad base in set(), a clash
   * in setLayer()). Read to attribute a refusal; becomes #applied only once
   * the store serves it.
   */
  #lastApplied: Applied = { entries: [], routesBefore: 0 };
  /** What was laid last and over which base: laid again only when either changes. */
  #laidKey: string | undefined;
  #laidBase: MeshConfig | undefined;

  constructor(target: LayerTarget) {
    this.#target = target;
  }

  /** The entries the served config holds (the layer's last application the store took). */
  get applied(): readonly Entry[] {
    return this.#applied.entries;
  }

  /** The store served a config (its 'change' event): it holds the layer's last application. */
  served(): void {
    this.#applied = this.#lastApplied;
  }

  /** `entries`: the valid objects, older first. */
  compose(entries: readonly Entry[]): Composition {
    const conflicts = new Map<string, string>();
    let candidates: Entry[] = [];
    for (const entry of entries) {
      const clash = clashOf(entry, this.#target.base, candidates);
      if (clash === undefined) candidates.push(entry);
      else conflicts.set(entry.object.uid, clash);
    }
    const key = JSON.stringify(candidates.map(entryKey));
    if (key === this.#laidKey && this.#target.base === this.#laidBase) {
      // Laid as they are: the store found nothing to refuse in them last time.
      return { laid: candidates, conflicts };
    }
    // Each round refuses at least one candidate or ends: at most n + 1 rounds.
    for (let round = 0; round <= entries.length; round += 1) {
      const refusal = this.#tryLay(candidates);
      if (refusal === undefined) break;
      const atFault = this.#atFault(refusal);
      if (atFault.size === 0) {
        const reason = `the mesh config refuses the custom resources: ${describeIssues(refusal)}`;
        for (const entry of candidates) conflicts.set(entry.object.uid, boundedMessage([reason]));
        candidates = [];
        this.#tryLay([]);
        break;
      }
      for (const [uid, message] of atFault) conflicts.set(uid, message);
      candidates = candidates.filter((entry) => !atFault.has(entry.object.uid));
    }
    this.#laidKey = JSON.stringify(candidates.map(entryKey));
    this.#laidBase = this.#target.base;
    return { laid: candidates, conflicts };
  }

  #tryLay(entries: readonly Entry[]): ConfigError | undefined {
    try {
      if (entries.length === 0) {
        this.#lastApplied = { entries: [], routesBefore: 0 };
        this.#target.setLayer(LAYER_NAME, undefined, 'custom resources');
      } else {
        this.#target.setLayer(LAYER_NAME, this.#layerOf(entries), 'custom resources');
      }
      // Taken, even when the served content did not change (no 'change' event then).
      this.#applied = this.#lastApplied;
      return undefined;
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
  }

  #layerOf(entries: readonly Entry[]): ConfigLayer {
    return (base) => {
      const paths = { ...base.proxy.rtsp.paths };
      const routes = [...base.proxy.routes];
      const applied: Applied = { entries: [], routesBefore: base.proxy.routes.length };
      for (const entry of entries) {
        // Checked again at each application: the file may have changed since.
        if (clashOf(entry, base, []) !== undefined) continue;
        if (entry.kind === 'Camera') paths[entry.path] = entry.config;
        else routes.push(entry.route);
        applied.entries.push(entry);
      }
      this.#lastApplied = applied;
      return {
        ...base,
        proxy: { ...base.proxy, routes, rtsp: { ...base.proxy.rtsp, paths } },
      };
    };
  }

  /** uid -> message, for each laid entry an issue of the refusal points into. */
  #atFault(error: ConfigError): Map<string, string> {
    // The refused application's entries: the issue paths point into it.
    const { entries, routesBefore } = this.#lastApplied;
    const cameras = entries.filter((entry) => entry.kind === 'Camera');
    const routes = entries.filter((entry) => entry.kind === 'MediaRoute');
    const found = new Map<string, string[]>();
    for (const issue of error.issues) {
      for (const path of issue.path.split(', ')) {
        const entry = entryAt(path, cameras, routes, routesBefore);
        if (entry === undefined) continue;
        const lines = found.get(entry.object.uid) ?? [];
        lines.push(`${issue.path}: ${issue.reason}`);
        found.set(entry.object.uid, lines);
      }
    }
    return new Map(
      [...found].map(([uid, lines]) => [
        uid,
        boundedMessage([`clashes with the mesh config: ${lines.join('; ')}`]),
      ]),
    );
  }
}

function entryAt(
  path: string,
  cameras: readonly Entry[],
  routes: readonly Entry[],
  routesBefore: number,
): Entry | undefined {
  const route = /^proxy\.routes\[(\d+)\]/.exec(path);
  if (route !== null) return routes[Number(route[1]) - routesBefore];
  let best: Entry | undefined;
  let bestLength = -1;
  for (const camera of cameras) {
    if (camera.kind !== 'Camera') continue;
    const prefix = `proxy.rtsp.paths.${camera.path}`;
    if ((path === prefix || path.startsWith(`${prefix}.`)) && prefix.length > bestLength) {
      best = camera;
      bestLength = prefix.length;
    }
  }
  return best;
}

/**
 * Why `entry` cannot be laid over `base`, or next to `earlier` (the older
 * entries already kept), if it cannot.
 */
export function clashOf(
  entry: Entry,
  base: MeshConfig,
  earlier: readonly Entry[],
): string | undefined {
  if (entry.kind === 'Camera') {
    if (Object.hasOwn(base.proxy.rtsp.paths, entry.path)) {
      return `path ${entry.path} is a path of the config file, which wins`;
    }
    if (entry.path === DEMO_PATH && base.proxy.rtsp.demo) {
      return `path ${DEMO_PATH} is the built-in demo camera (proxy.rtsp.demo of the config file)`;
    }
    const other = earlier.find((item) => item.kind === 'Camera' && item.path === entry.path);
    return other === undefined
      ? undefined
      : `path ${entry.path} is also ${describeObject(other.object)}'s, which is older`;
  }
  const { name, listen } = entry.route;
  if (base.proxy.routes.some((route) => route.name === name)) {
    return `route ${name} is a route of the config file, which wins`;
  }
  const fixed = !listen.endsWith(':0');
  const fileRoute = base.proxy.routes.find((route) => fixed && route.listen === listen);
  if (fileRoute !== undefined) {
    return `listen ${listen} is also route ${fileRoute.name}'s, in the config file, which wins`;
  }
  const other = earlier.find(
    (item) => item.kind === 'MediaRoute' && fixed && item.route.listen === listen,
  );
  return other === undefined
    ? undefined
    : `listen ${listen} is also ${describeObject(other.object)}'s, which is older`;
}

/** What the served config holds of an entry: two entries with the same key are the same in it. */
export function entryKey(entry: Entry): string {
  return entry.kind === 'Camera'
    ? JSON.stringify(['Camera', entry.path, entry.config])
    : JSON.stringify(['MediaRoute', entry.route]);
}

function describeIssues(error: ConfigError): string {
  return error.issues
    .map((issue) => (issue.path === '' ? issue.reason : `${issue.path}: ${issue.reason}`))
    .join('; ');
}
