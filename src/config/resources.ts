/**
 * A MeshConfig as typed, individually versioned resources (Envoy's delta xDS
 * model): the control plane splits its config into resources and sends each
 * node only those whose version differs from what the node holds; the node
 * validates each body with its type's schema, assembles the whole config back
 * and validates that with the one config schema.
 *
 * Resources and their names:
 * - MESH_SETTINGS "mesh": logLevel, controlPlane, the proxy's own settings
 *   (id, node, admin, mediaAddress, rtpPorts, capacity) and the HTTP settings
 *   that are not lists (retryBudget, accessLog), plus `routeOrder`: the names
 *   of the HTTP routes in match order (first match wins, so their order is
 *   config; adding or removing an HTTP route changes it).
 * - MEDIA_ROUTE <route name>: one proxy.routes entry.
 * - RTSP_SETTINGS "rtsp": proxy.rtsp without its paths; RTSP_PATH <path>: one path.
 * - HTTP_LISTENER, HTTP_ROUTE, HTTP_CLUSTER <name>: one entry of proxy.http
 *   (a cluster without its endpoints); HTTP_ENDPOINTS <cluster name>: the
 *   endpoint list of that cluster, so an endpoint change touches only it.
 * - SIGNALING_SETTINGS "signaling": the signaling section.
 *
 * A resource's version is a digest of its canonical JSON body (keys sorted):
 * it changes exactly when the body does. `order` is the entry's position in
 * its list; it is not part of the version because the order of media routes,
 * HTTP listeners and clusters carries no meaning: it only keeps an assembled
 * config in its author's order.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { validateConfig } from './load.js';
import { routeSchema as mediaRouteSchema } from './routes-schema.js';
import { meshConfigSchema, type MeshConfig } from './schema.js';

export const resourceTypes = [
  'MESH_SETTINGS',
  'MEDIA_ROUTE',
  'RTSP_SETTINGS',
  'RTSP_PATH',
  'HTTP_LISTENER',
  'HTTP_ROUTE',
  'HTTP_CLUSTER',
  'HTTP_ENDPOINTS',
  'SIGNALING_SETTINGS',
] as const;

/** The resource types a config is made of. */
export type ResourceType = (typeof resourceTypes)[number];

/**
 * Every resource type the control plane pushes: the config's, PLACEMENT
 * (which node carries which media session; placement-resource.ts) and
 * MEDIA_KEY (a proxy-to-proxy hop and its keys; hop-resource.ts),
 * TRUST_BUNDLE (the mesh CA's roots; trust-bundle-resource.ts),
 * SIGNALING_NODE (the mesh's signaling nodes; signaling-node-resource.ts)
 * and PIPE (a room's cascade pipe between two signaling nodes;
 * pipe-resource.ts). Those are not config: a node keeps them beside its
 * config and never assembles them into a MeshConfig.
 */
export const pushedResourceTypes = [
  ...resourceTypes,
  'PLACEMENT',
  'MEDIA_KEY',
  'TRUST_BUNDLE',
  'SIGNALING_NODE',
  'PIPE',
] as const;

export type PushedResourceType = (typeof pushedResourceTypes)[number];

/** A pushed resource's type, name and version (config or placement). */
export interface PushedResourceRef {
  readonly type: PushedResourceType;
  readonly name: string;
  readonly version: string;
}

/** A pushed resource with its body (config or placement). */
export interface PushedResource extends PushedResourceRef {
  readonly order: number;
  readonly body: unknown;
}

export interface ResourceRef {
  readonly type: ResourceType;
  readonly name: string;
  readonly version: string;
}

export interface MeshResource extends ResourceRef {
  /** Position in its list of the config it was split from; not versioned. */
  readonly order: number;
  /** The resource's part of the config, as validated by its type's schema. */
  readonly body: unknown;
}

/** Why one resource of a candidate was refused. */
export interface ResourceIssue {
  readonly type: PushedResourceType;
  readonly name: string;
  readonly reason: string;
}

/** The assembled candidate is refused; `issues` name the resources at fault. */
export class ResourcesRefusedError extends ConfigError {
  readonly resourceIssues: readonly ResourceIssue[];
  /** The refusal in one line, for a NACK's reason: `summary` if given, else the issues. */
  readonly summary: string;
  constructor(source: string, issues: readonly ResourceIssue[], summary?: string) {
    super(
      source,
      issues.map((issue) => ({ path: `${issue.type} ${issue.name}`, reason: issue.reason })),
    );
    this.resourceIssues = issues;
    this.summary =
      summary ?? issues.map((issue) => `${issue.type} ${issue.name}: ${issue.reason}`).join('; ');
  }
}

/** A resource a participant's refusal is about: its type and name (the node knows the version). */
export interface RefusedResource {
  readonly type: ResourceType;
  readonly name: string;
}

/**
 * THE CONTRACT FOR A PARTICIPANT'S REFUSAL. An error thrown from
 * ConfigParticipant.prepare() that knows which resources it refuses carries
 * them in a `resources` property:
 *
 *   readonly resources: readonly { readonly type: ResourceType; readonly name: string }[];
 *
 * e.g. a media route that cannot be built: [{ type: 'MEDIA_ROUTE', name: route.name }];
 * an L7 listener that cannot bind: [{ type: 'HTTP_LISTENER', name: listener.name }];
 * a bad mediaAddress or rtpPorts: [{ type: 'MESH_SETTINGS', name: MESH_SETTINGS_NAME }].
 * The node NACKs exactly those resources (the ones the update carries; if it
 * carries none of them, the participant's whole part of the update). The
 * property may sit on the thrown error or on any error of its `cause` chain,
 * so a wrapper keeps it. Names are matched exactly; the message is free text
 * and is only quoted in the NACK's reason. Matching the message against
 * resource names is the node's last resort for errors without `resources`.
 */
export interface ResourceRefusal {
  readonly resources: readonly RefusedResource[];
}

const configTypeSet: ReadonlySet<string> = new Set(resourceTypes);

/** Whether `value` carries well-formed refused resources (see ResourceRefusal). */
export function isResourceRefusal(value: unknown): value is ResourceRefusal {
  if (value === null || typeof value !== 'object') return false;
  const resources = (value as { resources?: unknown }).resources;
  return (
    Array.isArray(resources) &&
    resources.every(
      (ref: unknown) =>
        ref !== null &&
        typeof ref === 'object' &&
        configTypeSet.has((ref as { type?: unknown }).type as string) &&
        typeof (ref as { name?: unknown }).name === 'string',
    )
  );
}

/**
 * The resources an error (or the first error of its `cause` chain that
 * carries them) refuses, or undefined when none does.
 */
export function refusedResourcesOf(error: unknown): readonly RefusedResource[] | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current !== undefined && !seen.has(current);) {
    seen.add(current);
    if (isResourceRefusal(current)) return current.resources;
    current =
      current !== null && typeof current === 'object'
        ? (current as { cause?: unknown }).cause
        : undefined;
  }
  return undefined;
}

export const MESH_SETTINGS_NAME = 'mesh';
export const RTSP_SETTINGS_NAME = 'rtsp';
export const SIGNALING_SETTINGS_NAME = 'signaling';

/** Identifies a resource within a node's set: its type and name. */
export function resourceKey(ref: { readonly type: string; readonly name: string }): string {
  return `${ref.type}/${ref.name}`;
}

const meshShape = meshConfigSchema.shape;
const proxyShape = meshShape.proxy.unwrap().shape;
const rtspShape = proxyShape.rtsp.unwrap().shape;
const httpShape = proxyShape.http.unwrap().shape;
const clusterShape = httpShape.clusters.unwrap().element.shape;

const { routes: _routes, rtsp: _rtsp, http: _http, ...proxySettingsShape } = proxyShape;
const { paths: _paths, ...rtspSettingsShape } = rtspShape;
const { endpoints: _endpoints, ...clusterSettingsShape } = clusterShape;

/**
 * The schema each resource body is validated with on the node. Checks that
 * span resources (unique listen addresses, routes naming clusters) are made
 * once the config is assembled.
 */
const bodySchemas: Readonly<Record<ResourceType, z.ZodType>> = {
  MESH_SETTINGS: z.strictObject({
    logLevel: meshShape.logLevel,
    controlPlane: meshShape.controlPlane,
    proxy: z.strictObject({
      ...proxySettingsShape,
      http: z.strictObject({
        retryBudget: httpShape.retryBudget,
        accessLog: httpShape.accessLog,
        routeOrder: z.array(z.string().max(253)).max(4096),
      }),
    }),
  }),
  MEDIA_ROUTE: mediaRouteSchema,
  RTSP_SETTINGS: z.strictObject(rtspSettingsShape),
  RTSP_PATH: rtspShape.paths.unwrap().valueType,
  HTTP_LISTENER: httpShape.listeners.unwrap().element,
  HTTP_ROUTE: httpShape.routes.unwrap().element,
  HTTP_CLUSTER: z.strictObject(clusterSettingsShape),
  HTTP_ENDPOINTS: z.strictObject({ endpoints: clusterShape.endpoints }),
  SIGNALING_SETTINGS: meshShape.signaling,
};

/** JSON with object keys sorted at every level: the same body, the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) {
      sorted[key] = (inner as Record<string, unknown>)[key];
    }
    return sorted;
  });
}

export function resourceVersion(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16);
}

function resource(type: ResourceType, name: string, order: number, body: unknown): MeshResource {
  return { type, name, order, body, version: resourceVersion(body) };
}

/** A validated config as its resources. */
export function splitConfig(config: MeshConfig): MeshResource[] {
  const { routes, rtsp, http, ...proxySettings } = config.proxy;
  const { paths, ...rtspSettings } = rtsp;
  const { listeners, routes: httpRoutes, clusters, retryBudget, accessLog } = http;
  const resources: MeshResource[] = [
    resource('MESH_SETTINGS', MESH_SETTINGS_NAME, 0, {
      logLevel: config.logLevel,
      controlPlane: config.controlPlane,
      proxy: {
        ...proxySettings,
        http: { retryBudget, accessLog, routeOrder: httpRoutes.map((route) => route.name) },
      },
    }),
    resource('RTSP_SETTINGS', RTSP_SETTINGS_NAME, 0, rtspSettings),
    resource('SIGNALING_SETTINGS', SIGNALING_SETTINGS_NAME, 0, config.signaling),
  ];
  routes.forEach((route, index) =>
    resources.push(resource('MEDIA_ROUTE', route.name, index, route)),
  );
  Object.entries(paths).forEach(([name, path], index) =>
    resources.push(resource('RTSP_PATH', name, index, path)),
  );
  listeners.forEach((listener, index) =>
    resources.push(resource('HTTP_LISTENER', listener.name, index, listener)),
  );
  httpRoutes.forEach((route, index) =>
    resources.push(resource('HTTP_ROUTE', route.name, index, route)),
  );
  clusters.forEach(({ endpoints, ...cluster }, index) => {
    resources.push(resource('HTTP_CLUSTER', cluster.name, index, cluster));
    resources.push(resource('HTTP_ENDPOINTS', cluster.name, index, { endpoints }));
  });
  return resources;
}

/** Collects issues per resource while a candidate is assembled. */
class IssueList {
  readonly issues: (ResourceIssue & { readonly type: ResourceType })[] = [];
  add(type: ResourceType, name: string, reason: string): void {
    this.issues.push({ type, name, reason });
  }
}

/** A schema's issues as one line: `path: message; ...`. */
export function describeZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** The body as its type's schema reads it, or undefined with the issue noted. */
function validBody(item: MeshResource, issues: IssueList): Record<string, unknown> | undefined {
  const parsed = bodySchemas[item.type].safeParse(item.body);
  if (!parsed.success) {
    issues.add(item.type, item.name, describeZodIssues(parsed.error));
    return undefined;
  }
  return parsed.data as Record<string, unknown>;
}

function byOrder(a: MeshResource, b: MeshResource): number {
  return a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * The raw config document the resources describe, before the whole-config
 * validation. Bodies are checked with their own schemas; a body whose name
 * disagrees with its resource, a missing settings resource, or an HTTP
 * cluster without its endpoints (or the reverse) is an issue of that resource.
 */
function assembleDocument(
  resources: readonly MeshResource[],
  issues: IssueList,
): Record<string, unknown> {
  const valid = new Map<ResourceType, { item: MeshResource; body: Record<string, unknown> }[]>();
  for (const item of [...resources].sort(byOrder)) {
    const body = validBody(item, issues);
    if (body === undefined) continue;
    const named = typeof body['name'] === 'string' ? body['name'] : undefined;
    if (named !== undefined && named !== item.name) {
      issues.add(item.type, item.name, `the body is named "${named}", not "${item.name}"`);
      continue;
    }
    const list = valid.get(item.type) ?? [];
    list.push({ item, body });
    valid.set(item.type, list);
  }
  const all = (type: ResourceType) => valid.get(type) ?? [];
  const single = (type: ResourceType, name: string): Record<string, unknown> => {
    const found = all(type);
    if (found.length === 0 && !resources.some((item) => item.type === type)) {
      issues.add(type, name, 'missing: every config has this resource');
    }
    for (const extra of found.filter(({ item }) => item.name !== name)) {
      issues.add(type, extra.item.name, `there is one ${type}, named "${name}"`);
    }
    return found.find(({ item }) => item.name === name)?.body ?? {};
  };

  const mesh = single('MESH_SETTINGS', MESH_SETTINGS_NAME);
  const { proxy: proxySettings = {}, ...meshRest } = mesh as { proxy?: Record<string, unknown> };
  const { http: httpSettings = {}, ...proxyRest } = proxySettings as {
    http?: Record<string, unknown>;
  };
  const { routeOrder = [], ...httpRest } = httpSettings as { routeOrder?: string[] };

  const httpRoutes = new Map(all('HTTP_ROUTE').map(({ item, body }) => [item.name, body]));
  const orderedRoutes: unknown[] = [];
  for (const name of routeOrder) {
    const route = httpRoutes.get(name);
    if (route !== undefined) orderedRoutes.push(route);
    else if (!resources.some((item) => item.type === 'HTTP_ROUTE' && item.name === name)) {
      issues.add('MESH_SETTINGS', MESH_SETTINGS_NAME, `routeOrder names "${name}", no HTTP_ROUTE`);
    }
  }
  for (const name of httpRoutes.keys()) {
    if (!routeOrder.includes(name)) {
      issues.add('HTTP_ROUTE', name, 'not in the routeOrder of MESH_SETTINGS');
    }
  }

  const endpoints = new Map(all('HTTP_ENDPOINTS').map(({ item, body }) => [item.name, body]));
  const clusters: unknown[] = [];
  for (const { item, body } of all('HTTP_CLUSTER')) {
    const own = endpoints.get(item.name);
    if (own === undefined) {
      issues.add('HTTP_CLUSTER', item.name, 'has no HTTP_ENDPOINTS of the same name');
      continue;
    }
    clusters.push({ ...body, ...own });
  }
  const clusterNames = new Set(all('HTTP_CLUSTER').map(({ item }) => item.name));
  for (const name of endpoints.keys()) {
    if (!clusterNames.has(name)) {
      issues.add('HTTP_ENDPOINTS', name, 'has no HTTP_CLUSTER of the same name');
    }
  }

  return {
    ...meshRest,
    proxy: {
      ...proxyRest,
      routes: all('MEDIA_ROUTE').map(({ body }) => body),
      rtsp: {
        ...single('RTSP_SETTINGS', RTSP_SETTINGS_NAME),
        paths: Object.fromEntries(all('RTSP_PATH').map(({ item, body }) => [item.name, body])),
      },
      http: {
        ...httpRest,
        listeners: all('HTTP_LISTENER').map(({ body }) => body),
        routes: orderedRoutes,
        clusters,
      },
    },
    signaling: single('SIGNALING_SETTINGS', SIGNALING_SETTINGS_NAME),
  };
}

/**
 * The config the resources describe, validated as a whole (validateConfig).
 * Throws ResourcesRefusedError naming each resource at fault: issues of a
 * body, and issues of the whole config traced back to the resource that
 * holds the path (an issue outside any list resource is MESH_SETTINGS's).
 */
export function assembleConfig(resources: readonly MeshResource[], source: string): MeshConfig {
  const issues = new IssueList();
  const document = assembleDocument(resources, issues);
  if (issues.issues.length > 0) throw new ResourcesRefusedError(source, issues.issues);
  try {
    return validateConfig(document, source);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) {
      const owner = ownerOfPath(issue.path, document);
      issues.add(owner.type, owner.name, `${issue.path}: ${issue.reason}`);
    }
    throw new ResourcesRefusedError(source, issues.issues);
  }
}

interface Named {
  readonly name?: unknown;
}

/** The resource that holds a config path as validateConfig prints it ("proxy.routes[2].listen"). */
function ownerOfPath(
  path: string,
  document: Record<string, unknown>,
): { type: ResourceType; name: string } {
  const proxy = document['proxy'] as {
    routes: Named[];
    rtsp: { paths: Record<string, unknown> };
    http: { listeners: Named[]; routes: Named[]; clusters: Named[] };
  };
  const indexed = (prefix: string, list: readonly Named[]): string | undefined => {
    const match = new RegExp(`^${prefix.replace(/[.[\]]/g, '\\$&')}\\[(\\d+)\\]`).exec(path);
    if (match === null) return undefined;
    const name = list[Number(match[1])]?.name;
    return typeof name === 'string' ? name : undefined;
  };
  const mediaRoute = indexed('proxy.routes', proxy.routes);
  if (mediaRoute !== undefined) return { type: 'MEDIA_ROUTE', name: mediaRoute };
  const listener = indexed('proxy.http.listeners', proxy.http.listeners);
  if (listener !== undefined) return { type: 'HTTP_LISTENER', name: listener };
  const httpRoute = indexed('proxy.http.routes', proxy.http.routes);
  if (httpRoute !== undefined) return { type: 'HTTP_ROUTE', name: httpRoute };
  const cluster = indexed('proxy.http.clusters', proxy.http.clusters);
  if (cluster !== undefined) {
    return {
      type: /^proxy\.http\.clusters\[\d+\]\.endpoints/.test(path)
        ? 'HTTP_ENDPOINTS'
        : 'HTTP_CLUSTER',
      name: cluster,
    };
  }
  if (path.startsWith('proxy.rtsp.paths.')) {
    const rest = path.slice('proxy.rtsp.paths.'.length);
    // Path names may hold "." and "/": the longest name that prefixes the rest.
    const name = Object.keys(proxy.rtsp.paths)
      .filter((candidate) => rest === candidate || rest.startsWith(`${candidate}.`))
      .sort((a, b) => b.length - a.length)[0];
    if (name !== undefined) return { type: 'RTSP_PATH', name };
  }
  if (path.startsWith('proxy.rtsp')) return { type: 'RTSP_SETTINGS', name: RTSP_SETTINGS_NAME };
  if (path.startsWith('signaling')) {
    return { type: 'SIGNALING_SETTINGS', name: SIGNALING_SETTINGS_NAME };
  }
  return { type: 'MESH_SETTINGS', name: MESH_SETTINGS_NAME };
}

/**
 * The last resort for a refusal whose error names no resource (see
 * ResourceRefusal): of the update's resources of the types the participant
 * declares (all, if it declares none), those its message quotes, by listen
 * address (a host:port, e.g. an L7 listener that cannot bind) or by name
 * written as `<name>:` (the "proxy.routes <name>: reason" form) or in quotes;
 * failing that every resource of those types; failing that the whole update.
 * A bare word is never taken for a name: a route called "in" is not what
 * "address in use" is about.
 */
export function resourcesNamedByRefusal(
  participantTypes: readonly ResourceType[] | undefined,
  message: string,
  update: readonly (ResourceRef & { readonly body?: unknown })[],
): ResourceRef[] {
  const ofParticipant =
    participantTypes === undefined
      ? update
      : update.filter((ref) => participantTypes.includes(ref.type));
  const quotesName = (name: string): boolean => {
    const text = escapeRegExp(name);
    return (
      new RegExp(`(^|\\s)${text}:(\\s|$)`).test(message) ||
      new RegExp(`(["'\`])${text}\\1`).test(message)
    );
  };
  const quotesAddress = (listen: string): boolean =>
    new RegExp(`(^|[^A-Za-z0-9._:-])${escapeRegExp(listen)}($|[^0-9])`).test(message);
  const quoted = ofParticipant.filter((ref) => {
    if (quotesName(ref.name)) return true;
    const listen = (ref.body as { listen?: unknown } | null | undefined)?.listen;
    return typeof listen === 'string' && !listen.endsWith(':0') && quotesAddress(listen);
  });
  const named = quoted.length > 0 ? quoted : ofParticipant.length > 0 ? ofParticipant : update;
  return named.map(({ type, name, version }) => ({ type, name, version }));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
