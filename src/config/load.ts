/**
 * Reading a config: from a YAML file, from STREAMMESH_* environment variables,
 * or from a snapshot pushed by the control plane. Every entry parses with the
 * one schema and fails with a ConfigError naming the source, field and reason.
 * A node's own config (file, environment) also gets its node-local settings
 * applied here (signaling.bindHost); a pushed snapshot never does.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatHostPort, validHostPort } from '../shared/address.js';
import { ConfigError, errorMessage, type ConfigIssue } from '../shared/errors.js';
import { checkConfigText, configTextBounds } from './bounded-parse.js';
import { suggestField } from './field-names.js';
import { parseConfigTextIsolated } from './isolated-parse.js';
import { meshConfigSchema, type MeshConfig } from './schema.js';

/** Settings people set per deployment, and the config field each one sets. */
export const environmentOverrides = {
  STREAMMESH_LOG_LEVEL: ['logLevel'],
  STREAMMESH_CONTROL_PLANE: ['controlPlane', 'address'],
  STREAMMESH_CONTROL_PLANE_ADMIN: ['controlPlane', 'admin'],
  STREAMMESH_CONTROL_PLANE_GRPC: ['controlPlane', 'grpc'],
  STREAMMESH_PROXY_ADMIN: ['proxy', 'admin'],
  STREAMMESH_PROXY_MEDIA_ADDRESS: ['proxy', 'mediaAddress'],
  STREAMMESH_PROXY_ID: ['proxy', 'id'],
  STREAMMESH_PROXY_RTSP_LISTEN: ['proxy', 'rtsp', 'listen'],
  STREAMMESH_PROXY_BIND_HOST: ['proxy', 'bindHost'],
  STREAMMESH_PROXY_UDP_IO: ['proxy', 'udpIo'],
  STREAMMESH_PROXY_SRTP_ENGINE: ['proxy', 'srtpEngine'],
  STREAMMESH_SIGNALING_ADMIN: ['signaling', 'admin'],
  STREAMMESH_SIGNALING_ID: ['signaling', 'id'],
  STREAMMESH_SIGNALING_LISTEN: ['signaling', 'listen'],
  STREAMMESH_SIGNALING_BIND_HOST: ['signaling', 'bindHost'],
  STREAMMESH_SIGNALING_CASCADE_LISTEN: ['signaling', 'cascade', 'listen'],
  STREAMMESH_SIGNALING_ANNOUNCED_ADDRESS: ['signaling', 'announcedAddress'],
  STREAMMESH_SIGNALING_PUBLIC_URL: ['signaling', 'publicUrl'],
  STREAMMESH_CONTROL_PLANE_REGISTRY: ['controlPlane', 'registry'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Port ranges people move to run two meshes on one machine, as START-END
 * (e.g. STREAMMESH_PROXY_RTP_PORTS=40000-40999).
 */
export const rangeEnvironmentOverrides = {
  STREAMMESH_PROXY_RTP_PORTS: ['proxy', 'rtpPorts'],
  STREAMMESH_SIGNALING_RTC_PORTS: ['signaling', 'rtcPorts'],
} as const satisfies Record<string, readonly string[]>;

const PORT_RANGE = /^(\d{1,5})-(\d{1,5})$/;

/** Counts set per machine (e.g. STREAMMESH_PROXY_WORKERS=2), as decimal integers. */
export const integerEnvironmentOverrides = {
  STREAMMESH_PROXY_WORKERS: ['proxy', 'workers'],
} as const satisfies Record<string, readonly string[]>;

const DECIMAL_INTEGER = /^\d{1,9}$/;

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates a config file, then applies environment overrides. The
 * text is parsed on a worker thread (isolated-parse.ts): a file reloaded by a
 * running control plane cannot hold its event loop or end the process.
 */
export async function loadConfigFile(
  file: string,
  env: Environment = process.env,
): Promise<MeshConfig> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > configTextBounds.maxBytes) {
      throw new ConfigError(file, [
        { path: '', reason: `file is ${bytes.length} bytes; a config is at most 1 MiB` },
      ]);
    }
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(file, [{ path: '', reason: `cannot read: ${errorMessage(error)}` }]);
  }
  return parseConfigTextIsolated(text, file, env);
}

/** The embedded default: no file, only defaults and the environment. */
export function defaultConfig(env: Environment = process.env): MeshConfig {
  return validateOwnConfig({}, '(defaults)', env);
}

/**
 * Parses config text (YAML, or JSON, which is YAML) on this thread, after the
 * pre-scan of its size and nesting (bounded-parse.ts). Text from outside the
 * process goes through parseConfigTextIsolated instead.
 */
export function parseConfigText(text: string, source: string, env: Environment = {}): MeshConfig {
  const refused = checkConfigText(text);
  if (refused !== undefined) throw new ConfigError(source, [refused]);
  return validateOwnConfig(parseYaml(text, source), source, env);
}

/**
 * Validates an already-decoded document (a file's YAML, a pushed snapshot's
 * JSON) as it is: node-local settings are not applied, so a snapshot from the
 * control plane never moves this node's listeners (the node applies its own
 * bind host to what it is pushed).
 */
export function validateConfig(raw: unknown, source: string, env: Environment = {}): MeshConfig {
  const fromEnv = applyEnvironment(topLevelMapping(raw, source), env);
  return parseDocumentWith(fromEnv.document, source, fromEnv.paths);
}

/** Paths of every address a signaling node listens on: where signaling.bindHost applies. */
const signalingListenPaths = [
  'signaling.admin',
  'signaling.listen',
  'signaling.cascade.listen',
  'signaling.rtcListenIp',
] as const;

/**
 * `config` with every address the signaling node listens on (admin, listen,
 * cascade.listen, rtcListenIp) on `host`, each keeping its port; the config
 * itself without a host. Several signaling nodes share one config this way,
 * one per address (`up` and signaling.instances). Other roles' addresses, and
 * the addresses others dial (publicUrl, announcedAddress), stay as they are.
 */
export function withSignalingBindHost(config: MeshConfig, host: string | undefined): MeshConfig {
  if (host === undefined) return config;
  const onHost = (listen: string): string => formatHostPort({ ...validHostPort(listen), host });
  const { signaling } = config;
  return {
    ...config,
    signaling: {
      ...signaling,
      bindHost: host,
      admin: onHost(signaling.admin),
      listen: onHost(signaling.listen),
      cascade: { ...signaling.cascade, listen: onHost(signaling.cascade.listen) },
      rtcListenIp: host,
    },
  };
}

/**
 * A node's own config (its file or defaults, and its environment): validated,
 * then its node-local settings applied. The whole-config checks run again on
 * the result: two signaling listeners that differed only by host (0.0.0.0:8443
 * and 127.0.0.1:8443) meet on the bind host, and the error says so.
 */
function validateOwnConfig(raw: unknown, source: string, env: Environment): MeshConfig {
  const fromEnv = applyEnvironment(topLevelMapping(raw, source), env);
  const config = parseDocumentWith(fromEnv.document, source, fromEnv.paths);
  const host = config.signaling.bindHost;
  if (host === undefined) return config;
  const setBy = fromEnv.paths.get('signaling.bindHost') ?? 'signaling.bindHost';
  return parseDocumentWith(
    withSignalingBindHost(config, host),
    source,
    new Map(signalingListenPaths.map((path) => [path, setBy])),
  );
}

function topLevelMapping(raw: unknown, source: string): Record<string, unknown> {
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', reason: 'the top level must be a mapping' }]);
  }
  return raw as Record<string, unknown>;
}

/** The schema's parse; `setBy` maps a config path to what set it, for the error. */
function parseDocumentWith(
  document: unknown,
  source: string,
  setBy: ReadonlyMap<string, string>,
): MeshConfig {
  const result = meshConfigSchema.safeParse(document, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(
    source,
    result.error.issues.map((issue) => describe(issue, setBy)),
  );
}

function parseYaml(text: string, source: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const first = document.errors[0];
  if (first !== undefined) {
    throw new ConfigError(source, [{ path: '', reason: yamlReason(first) }]);
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(source, [{ path: '', reason: `invalid YAML: ${errorMessage(error)}` }]);
  }
}

function yamlReason(error: { readonly message: string }): string {
  // With prettyErrors the first line reads "<what> at line L, column C:".
  const firstLine = (error.message.split('\n')[0] ?? error.message).replace(/:$/, '');
  return `invalid YAML: ${firstLine}`;
}

interface EnvironmentApplied {
  readonly document: Record<string, unknown>;
  /** Config path ("proxy.admin") -> the variable that set it. */
  readonly paths: ReadonlyMap<string, string>;
}

function applyEnvironment(raw: Record<string, unknown>, env: Environment): EnvironmentApplied {
  const document = structuredClone(raw);
  const paths = new Map<string, string>();
  for (const [variable, path] of Object.entries(environmentOverrides)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    setPath(document, path, value);
    paths.set(path.join('.'), variable);
  }
  for (const [variable, path] of Object.entries(rangeEnvironmentOverrides)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    const range = PORT_RANGE.exec(value.trim());
    if (range === null) {
      throw new ConfigError(variable, [
        {
          path: path.join('.'),
          reason: `must be START-END (e.g. 40000-40999), got ${JSON.stringify(value)}`,
        },
      ]);
    }
    setPath(document, path, { start: Number(range[1]), end: Number(range[2]) });
    paths.set(path.join('.'), variable);
  }
  for (const [variable, path] of Object.entries(integerEnvironmentOverrides)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    if (!DECIMAL_INTEGER.test(value.trim())) {
      throw new ConfigError(variable, [
        { path: path.join('.'), reason: `must be a whole number, got ${JSON.stringify(value)}` },
      ]);
    }
    setPath(document, path, Number(value.trim()));
    paths.set(path.join('.'), variable);
  }
  return { document, paths };
}

function setPath(document: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node: Record<string, unknown> = document;
  for (const key of path.slice(0, -1)) {
    const child = node[key];
    if (child === undefined || child === null) {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    } else if (typeof child === 'object' && !Array.isArray(child)) {
      node = child as Record<string, unknown>;
    } else {
      // Leave the wrong type in place: validation reports it at its path.
      return;
    }
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}

function describe(issue: z.core.$ZodIssue, fromEnv: ReadonlyMap<string, string>): ConfigIssue {
  const path = formatPath(issue.path);
  const variable = fromEnv.get(path);
  const where = variable === undefined ? path : `${path} (from ${variable})`;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const meant =
        issue.keys.length === 1 ? suggestField(issue.path, issue.keys[0] ?? '') : undefined;
      return {
        path: issue.keys.map((key) => (path === '' ? key : `${path}.${key}`)).join(', '),
        reason:
          (issue.keys.length === 1 ? 'unknown field' : 'unknown fields') +
          (meant === undefined ? '' : ` (did you mean \`${meant}\`?)`),
      };
    }
    case 'invalid_type':
      return {
        path: where,
        reason:
          issue.input === undefined
            ? `required (${expectedName(issue.expected)})`
            : `expected ${expectedName(issue.expected)}, got ${describeValue(issue.input)}`,
      };
    case 'too_small':
      return { path: where, reason: `must be at least ${String(issue.minimum)}` };
    case 'too_big':
      return { path: where, reason: `must be at most ${String(issue.maximum)}` };
    case 'invalid_value':
      return {
        path: where,
        reason: `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`,
      };
    default:
      return { path: where, reason: issue.message };
  }
}

/** `proxy.routes[2].listen`: list indexes in brackets, as people read them. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) =>
      typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`,
    )
    .join('');
}

function expectedName(expected: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    int: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
