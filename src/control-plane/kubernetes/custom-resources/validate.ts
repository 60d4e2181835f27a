/**
 * Each object alone, with the file's schema: a Camera's spec is validated as
 * proxy.rtsp.paths.<path> of a config, a MediaRoute's as an item of
 * proxy.routes, through validateConfig, so the reasons are the ones a file
 * gets (`must be an rtsp:// URL, not http://`), with the config path
 * replaced by the object's (`spec.source`). Clashes between objects, or with
 * the file, are not decided here (compose.ts).
 *
 * The spec comes from whoever may write these objects: its size and depth are
 * bounded before zod sees it, and nothing here throws on what it is given.
 */
import { validateConfig, type RouteConfig, type RtspPathConfig } from '../../../config/index.js';
import { ConfigError, errorMessage } from '../../../shared/errors.js';
import { isRecord, type CustomObject } from './kinds.js';

/** A spec larger than this (as JSON) is refused before it is parsed. */
export const MAX_SPEC_BYTES = 64 * 1024;
/** A spec nested deeper than this is refused before it is parsed (the schemas are shallower). */
export const MAX_SPEC_DEPTH = 16;
/** status.conditions[].message may hold 32768 characters; ours say why in far less. */
export const MAX_MESSAGE_CHARS = 2048;
const MAX_REASON_CHARS = 300;

export type Validated =
  | {
      readonly ok: true;
      readonly kind: 'Camera';
      readonly path: string;
      readonly config: RtspPathConfig;
    }
  | { readonly ok: true; readonly kind: 'MediaRoute'; readonly route: RouteConfig }
  | { readonly ok: false; readonly message: string };

export function validateObject(object: CustomObject): Validated {
  try {
    const bounded = boundsDefect(object.spec);
    if (bounded !== undefined) return refused([`spec: ${bounded}`]);
    return object.kind === 'Camera' ? validateCamera(object) : validateMediaRoute(object);
  } catch (error) {
    // A schema should not throw; if it does on a hostile value, that value is refused.
    return refused([`spec: cannot be validated: ${errorMessage(error)}`]);
  }
}

function validateCamera(object: CustomObject): Validated {
  const spec = object.spec;
  if (!isRecord(spec)) return refused([`spec: ${notAMapping(spec)}`]);
  const { path: named, ...pathSpec } = spec;
  if (named !== undefined && typeof named !== 'string') {
    return refused([`spec.path: expected a string, got ${typeName(named)}`]);
  }
  const path = named ?? object.name;
  const nameField = named === undefined ? 'metadata.name' : 'spec.path';
  const prefix = `proxy.rtsp.paths.${path}`;
  try {
    const config = validateConfig(
      // demo: false, so a Camera named "demo" is judged against the file's
      // demo setting when composed, not here.
      { proxy: { rtsp: { demo: false, paths: { [path]: pathSpec } } } },
      `Camera ${object.name}`,
    );
    const parsed = config.proxy.rtsp.paths[path];
    if (parsed === undefined) return refused([`${nameField}: is not a path name`]);
    return { ok: true, kind: 'Camera', path, config: parsed };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return refused(
      error.issues.map((issue) =>
        line(renamePaths(issue.path, prefix, 'spec', nameField), issue.reason),
      ),
    );
  }
}

function validateMediaRoute(object: CustomObject): Validated {
  const spec = object.spec;
  if (!isRecord(spec)) return refused([`spec: ${notAMapping(spec)}`]);
  if (Object.hasOwn(spec, 'name')) {
    return refused(['spec.name: unknown field (a MediaRoute is named by its metadata.name)']);
  }
  const prefix = 'proxy.routes[0]';
  try {
    const config = validateConfig(
      { proxy: { routes: [{ ...spec, name: object.name }] } },
      `MediaRoute ${object.name}`,
    );
    const route = config.proxy.routes[0];
    if (route === undefined) return refused(['spec: is not a route']);
    return { ok: true, kind: 'MediaRoute', route };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return refused(
      error.issues.map((issue) =>
        line(renamePaths(issue.path, prefix, 'spec', 'metadata.name', 'name'), issue.reason),
      ),
    );
  }
}

/**
 * A config path of the composed document as the object's own: `prefix` and
 * what follows it become `spec...`; `prefix` alone (or prefix.<nameKey>) is
 * the object's name. An unknown-fields issue names several paths, ", "-joined.
 */
export function renamePaths(
  paths: string,
  prefix: string,
  specPath: string,
  nameField: string,
  nameKey?: string,
): string {
  return paths
    .split(', ')
    .map((path) => {
      if (path === prefix) return nameKey === undefined ? nameField : specPath;
      if (nameKey !== undefined && path === `${prefix}.${nameKey}`) return nameField;
      if (path.startsWith(`${prefix}.`)) return `${specPath}${path.slice(prefix.length)}`;
      if (path.startsWith(`${prefix}[`)) return `${specPath}${path.slice(prefix.length)}`;
      return path;
    })
    .join(', ');
}

function line(path: string, reason: string): string {
  const short = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
  return path === '' ? short : `${path}: ${short}`;
}

function refused(lines: readonly string[]): Validated {
  return { ok: false, message: boundedMessage(lines) };
}

/** Issues joined with "; ", cut to fit a condition's message. */
export function boundedMessage(lines: readonly string[]): string {
  const text = lines.join('; ');
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}

function notAMapping(value: unknown): string {
  return value === undefined || value === null
    ? 'required (a mapping)'
    : `expected a mapping, got ${typeName(value)}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

/**
 * Why the value is too large or too deep to validate, if it is. Walked
 * without recursion, and stopped as soon as a bound is passed, so a hostile
 * value costs at most the bounds.
 */
export function boundsDefect(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  let bytes = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (depth > MAX_SPEC_DEPTH) return `nested deeper than ${MAX_SPEC_DEPTH} levels`;
    if (typeof node === 'string') bytes += Buffer.byteLength(node) + 2;
    else if (Array.isArray(node)) {
      bytes += 2;
      for (const item of node as unknown[]) stack.push([item, depth + 1]);
    } else if (isRecord(node)) {
      bytes += 2;
      for (const [key, item] of Object.entries(node)) {
        bytes += Buffer.byteLength(key) + 3;
        stack.push([item, depth + 1]);
      }
    } else bytes += 8;
    if (bytes > MAX_SPEC_BYTES) return `larger than ${MAX_SPEC_BYTES} bytes`;
  }
  return undefined;
}
