/**
 * The L7 proxy of the rtp-proxy: HTTP/1.1, HTTP/2 and gRPC listeners, the
 * routes that pick a cluster for each request, and the clusters of upstream
 * endpoints. Envoy's vocabulary (listener -> route -> cluster -> endpoint).
 * Part of the one config schema; nothing listens unless a listener is named.
 */
import { z } from 'zod';
import { parseHostPort } from '../shared/address.js';
import { errorMessage } from '../shared/errors.js';
import { parseSpiffeId } from '../shared/identity/index.js';

const hostPort = z.string().superRefine((text, ctx) => {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'must be a DNS label: lowercase letters, digits and "-", at most 63 characters',
});

const percent = z.number().min(0).max(100);
const milliseconds = (max: number): z.ZodNumber =>
  z.number().int('must be an integer').min(1).max(max);

/** Compiled here so that a bad pattern is refused at start-up, not per request. */
const regex = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((source, ctx) => {
    try {
      new RegExp(source);
    } catch (error) {
      // V8 repeats the pattern in its message ("Invalid regular expression: /(/: ..."); keep the reason.
      const reason = errorMessage(error).replace(
        /^Invalid regular expression: \/.*\/[a-z]*: /s,
        '',
      );
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${reason}` });
    }
  })
  .describe('A JavaScript regular expression; it must match the whole value.');

/** RFC 9110 token: what a header name may be. Pseudo-headers (":path") are not. */
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/, { message: 'must be an HTTP header name' });

const headerValue = z
  .string()
  .max(8192)
  .regex(/^[^\r\n\0]*$/, { message: 'must not contain CR, LF or NUL' });

/** Exactly one of `keys` is set; zod unions would report every branch instead. */
function exactlyOne(keys: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.core.$RefinementCtx): void => {
    const set = keys.filter((key) => value[key] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `needs exactly one of ${keys.join(', ')}${set.length > 1 ? `, not ${set.join(' and ')}` : ''}`,
      });
    }
  };
}

/** A mesh SPIFFE ID in its one spelling (an authorization rule must not be bypassed by another). */
const meshSpiffeId = z
  .string()
  .max(512)
  .superRefine((uri, ctx) => {
    try {
      parseSpiffeId(uri);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: errorMessage(error) });
    }
  });

const httpMethod = z
  .string()
  .regex(/^[A-Z]{1,32}$/, { message: 'must be an upper-case HTTP method' });

const listenerTlsSchema = z
  .discriminatedUnion('mode', [
    z
      .strictObject({ mode: z.literal('mesh') })
      .describe(
        "Mutual TLS from other mesh proxies: the node's workload certificate is presented, a client certificate verified against the mesh trust bundle is required, and the client's SPIFFE ID is what authorization rules' `from` match.",
      ),
    z
      .strictObject({
        mode: z.literal('server'),
        certFile: z.string().min(1).describe('PEM certificate (and chain) presented to clients.'),
        keyFile: z.string().min(1).describe('PEM private key of certFile.'),
      })
      .describe(
        'TLS for clients outside the mesh: a certificate from files, no client certificate.',
      ),
  ])
  .describe(
    'TLS on this listener (ALPN h2 and http/1.1, so HTTP/2 and gRPC run over it too); cleartext when absent.',
  );

const authorizationRuleSchema = z
  .strictObject({
    action: z.enum(['allow', 'deny']),
    from: z
      .array(z.union([z.literal('*'), meshSpiffeId]))
      .min(1)
      .max(256)
      .optional()
      .describe(
        'Peer SPIFFE IDs verified by mutual TLS ("*": any verified peer); only a mesh listener has them. Any peer (or none) when absent.',
      ),
    paths: z
      .array(z.string().startsWith('/', 'must start with "/"').max(1024))
      .min(1)
      .max(256)
      .optional()
      .describe(
        'Path prefixes, matched against the normalised path (no query, dot segments resolved, repeated "/" merged); any path when absent.',
      ),
    methods: z.array(httpMethod).min(1).max(16).optional().describe('Any method when absent.'),
  })
  .describe('Matches a request when every field given matches.');

const authorizationSchema = z
  .strictObject({
    default: z
      .enum(['allow', 'deny'])
      .describe('What happens to a request no rule matches ("deny": default-deny).'),
    rules: z.array(authorizationRuleSchema).max(1024).default([]),
  })
  .describe(
    'Who may call the service this listener fronts: the first matching rule decides, else the default. A denied request is answered 403 (gRPC: PERMISSION_DENIED) and never proxied.',
  );

/** The ways a listener can catch invalid HTTP/2 frames (checkHttp2Frames). */
export const HTTP2_FRAME_CHECKS = ['nghttp2', 'guard', 'off'] as const;
export type Http2FrameCheck = (typeof HTTP2_FRAME_CHECKS)[number];

const listenerSchema = z
  .strictObject({
    name: name.describe('Unique name; routes may name it to apply only there.'),
    listen: hostPort.describe('TCP address the listener binds (host:port).'),
    protocol: z
      .enum(['http1', 'http2', 'auto'])
      .default('auto')
      .describe(
        'http1: HTTP/1.1 only; http2: cleartext HTTP/2 with prior knowledge only; auto: HTTP/1.1 plus h2c by prior knowledge or Upgrade.',
      ),
    idleTimeoutMs: milliseconds(3_600_000)
      .default(60_000)
      .describe('A connection with no request in flight for this long is closed.'),
    headersTimeoutMs: milliseconds(600_000)
      .default(10_000)
      .describe(
        'A request head must be complete this long after its first byte (slow clients are answered 408 and closed).',
      ),
    maxHeaderBytes: z
      .number()
      .int()
      .min(1024)
      .max(1_048_576)
      .default(16_384)
      .describe('Largest request head (HTTP/1.1) or header list (HTTP/2); larger ones get 431.'),
    maxConcurrentStreams: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      // Envoy's guidance for edge listeners (nginx: 128). Under h2load -c 200
      // -m 256 the L7 thread peaked at 680 MB RSS with 1024, 420 MB with 100.
      .default(100)
      .describe('HTTP/2 streams a client may have open at once on one connection.'),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1024)
      .describe(
        'Connections open at once on this listener; more are refused at accept and counted.',
      ),
    maxConnectionsPerSource: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(256)
      .describe(
        'Connections open at once from one source address; more are refused at accept and counted.',
      ),
    headTimeoutMs: milliseconds(600_000)
      .default(10_000)
      .describe(
        'A new connection must complete its first request head (HTTP/1.1) or open its first stream (HTTP/2) within this, or it is closed and counted.',
      ),
    requestsPerSecondPerSource: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(
        'Requests (HTTP/1.1 requests, HTTP/2 streams) one source address may send per second on this listener; more are answered 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED) and counted (rate_limited, and streammesh_rate_limited_requests_total{listener="l7"}). No limit when absent: a sidecar listener serves one application.',
      ),
    requestBurstPerSource: z
      .number()
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .describe('Requests one source may send at once above its rate; default twice the rate.'),
    maxPendingRequests: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(2048)
      .describe(
        'Requests in flight in this listener at once, over all connections and streams; more are answered 503 at once and counted (listener_overloaded).',
      ),
    maxBufferedBodyBytes: z
      .number()
      .int()
      .min(0)
      .max(1_073_741_824)
      .default(16_777_216)
      .describe(
        'Bytes of request-body copies (kept, up to 64 KiB a request, so retries and mirrors can resend a body) held at once on this listener; a request whose copy would not fit is still proxied, but not retried or mirrored, and counted (listener_budget_full). 0 keeps no copies.',
      ),
    maxSessionMemoryMb: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(10)
      .describe(
        "Memory one HTTP/2 connection may hold in node's HTTP/2 session (streams, header tables, data queued to send), in MB; over it, new streams are refused (ENHANCE_YOUR_CALM). Times maxConnections bounds the listener's total.",
      ),
    checkHttp2Frames: z
      .union([z.enum(HTTP2_FRAME_CHECKS), z.boolean()], {
        error: `one of ${HTTP2_FRAME_CHECKS.map((check) => `'${check}'`).join(', ')}, or true ('guard') / false ('off')`,
      })
      .default('nghttp2')
      .describe(
        "How invalid HTTP/2 frames from clients are caught. 'nghttp2' (default): node's HTTP/2 keeps its native socket path, nghttp2 answers an invalid frame with a GOAWAY, and streammesh notices within about a second that nghttp2 ended the session, counts it (h2_refused_by_nghttp2) and closes it. 'guard': every frame header is checked in JavaScript before node sees it, so each kind is counted under its own reason and closed at once, and refused streams (ENHANCE_YOUR_CALM) are counted too, for 7-9% more CPU an HTTP/2 request. 'off': nghttp2's GOAWAY only, uncounted, the connection kept until the idle timeout. true and false are the older spellings of 'guard' and 'off'.",
      ),
    tls: listenerTlsSchema.optional(),
    authorization: authorizationSchema.optional(),
  })
  .superRefine((listener, ctx) => {
    // A peer identity exists only on a mesh listener: a `from` elsewhere could never match.
    if (listener.tls?.mode === 'mesh') return;
    listener.authorization?.rules.forEach((rule, index) => {
      if (rule.from !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['authorization', 'rules', index, 'from'],
          message: 'needs tls.mode "mesh" on this listener (only mutual TLS gives a peer identity)',
        });
      }
    });
  })
  .describe('An L7 listener for HTTP/1.1, HTTP/2 and gRPC.');

const pathMatchSchema = z
  .strictObject({
    prefix: z.string().startsWith('/', 'must start with "/"').optional(),
    exact: z.string().startsWith('/', 'must start with "/"').optional(),
    regex: regex.optional(),
  })
  .superRefine(exactlyOne(['prefix', 'exact', 'regex']))
  .describe('Matched against the request path without its query string.');

const headerMatchSchema = z
  .strictObject({
    name: headerName.describe('Header name; compared without regard to case.'),
    exact: z.string().max(8192).optional(),
    regex: regex.optional(),
    present: z.boolean().optional().describe('true: the header is sent; false: it is not.'),
  })
  .superRefine(exactlyOne(['exact', 'regex', 'present']))
  .describe('Repeated headers are matched as their values joined by ",".');

const matchSchema = z
  .strictObject({
    authority: z
      .string()
      .regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, {
        message: 'must be a host name or *.suffix',
      })
      .optional()
      .describe(
        'Host (HTTP/1.1) or :authority (HTTP/2), without regard to case or port; "*.example.com" matches any subdomain.',
      ),
    path: pathMatchSchema,
    headers: z.array(headerMatchSchema).max(32).optional().describe('All must match.'),
    methods: z
      .array(httpMethod)
      .min(1)
      .max(16)
      .optional()
      .describe('One of these methods; any method when absent.'),
  })
  .describe('What a request must carry for this route; every field given must match.');

const weightedSchema = z.strictObject({
  cluster: name,
  weight: z.number().int('must be an integer').min(1).max(1_000_000),
});

const retryConditions = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

const retriesSchema = z
  .strictObject({
    attempts: z
      .number()
      .int('must be an integer')
      .min(1)
      .max(10)
      .default(2)
      .describe('Retries after the first try.'),
    perTryTimeoutMs: milliseconds(600_000).optional().describe('Default: the route timeout.'),
    on: z
      .array(z.enum(retryConditions))
      .min(1)
      .default(['connect-failure', 'refused-stream', 'unavailable'])
      .describe(
        'HTTP failures (5xx, gateway-error: 502/503/504, reset, connect-failure, refused-stream) and gRPC status codes that are retried. Only idempotent methods are retried on HTTP failures.',
      ),
    backoff: z
      .strictObject({
        baseMs: milliseconds(60_000).default(25),
        maxMs: milliseconds(600_000).default(250),
      })
      .refine((backoff) => backoff.baseMs <= backoff.maxMs, {
        message: 'baseMs must be <= maxMs',
      })
      .prefault({})
      .describe('Full-jitter exponential backoff between tries.'),
  })
  .describe('Retries where they are safe, within proxy.http.retryBudget.');

const headerEditSchema = z
  .strictObject({
    add: z.record(headerName, headerValue).default({}).describe('Set (replacing) these headers.'),
    remove: z.array(headerName).max(64).default([]).describe('Drop these headers.'),
  })
  .describe('Header changes; remove applies before add.');

const faultSchema = z
  .strictObject({
    delay: z
      .strictObject({ ms: milliseconds(600_000), percent })
      .optional()
      .describe('Hold a share of requests this long before forwarding them.'),
    abort: z
      .strictObject({ status: z.number().int().min(200).max(599), percent })
      .optional()
      .describe('Answer a share of requests with this status; they never reach the upstream.'),
  })
  .describe('Fault injection for testing clients.');

const actionSchema = z
  .strictObject({
    cluster: name.optional().describe('Every request goes to this cluster.'),
    weighted: z
      .array(weightedSchema)
      .min(1)
      .max(64)
      .optional()
      .describe('Requests are split between clusters by weight (canary).'),
    mirror: z
      .strictObject({ cluster: name, percent: percent.default(100) })
      .optional()
      .describe('A copy of a share of requests goes to this cluster; its responses are dropped.'),
    timeoutMs: z
      .number()
      .int('must be an integer')
      .min(0)
      .max(3_600_000)
      .default(15_000)
      .describe(
        'Whole-request timeout in ms, retries included; answered 504 (gRPC: DEADLINE_EXCEEDED). 0: none, for long streams.',
      ),
    idleTimeoutMs: milliseconds(3_600_000)
      .default(300_000)
      .describe('A request whose bodies move no byte either way for this long is reset.'),
    retries: retriesSchema.optional(),
    requestHeaders: headerEditSchema.optional(),
    responseHeaders: headerEditSchema.optional(),
    fault: faultSchema.optional(),
  })
  .superRefine(exactlyOne(['cluster', 'weighted']))
  .describe('Where a matched request goes and how.');

const routeSchema = z
  .strictObject({
    name: name.describe('Unique name; used in metrics labels and access logs.'),
    listener: name.optional().describe('Only on this listener; on every listener when absent.'),
    match: matchSchema,
    action: actionSchema,
  })
  .describe('A route; the first that matches a request wins, in this order.');

const clusterSchema = z
  .strictObject({
    name: name.describe('Unique name; routes send to it.'),
    endpoints: z
      .array(hostPort)
      .max(4096)
      .default([])
      .describe(
        'Upstream host:port addresses. At least one, unless `service` names where they come from.',
      ),
    service: z
      .strictObject({
        name: name.describe('The Service whose EndpointSlices list the endpoints.'),
        namespace: name
          .optional()
          .describe(
            "Its namespace; default: the control plane's (controlPlane.kubernetes.namespace).",
          ),
        port: z
          .union([z.number().int().min(1).max(65535), name])
          .describe(
            "The Service port's name (the EndpointSlices' port of that name), or a number: the pods' port (what EndpointSlices carry, the Service's targetPort), not the Service's own port.",
          ),
      })
      .optional()
      .describe(
        "With controlPlane.registry: kubernetes, the endpoints are the ready addresses of this Service's EndpointSlices, followed as pods come and go (the cluster is updated in place: untouched endpoints keep their connections, outlier and health state). Until the first list arrives, and without the kubernetes registry, `endpoints` is used. No ready address: requests are answered 503.",
      ),
    lb: z
      .enum(['round-robin', 'least-request', 'consistent-hash'])
      .default('round-robin')
      .describe(
        'round-robin; least-request: power of two choices weighed by EWMA latency; consistent-hash: on hashOn (sticky sessions).',
      ),
    hashOn: z
      .strictObject({
        header: headerName.optional(),
        cookie: z.string().min(1).max(256).optional(),
      })
      .superRefine(exactlyOne(['header', 'cookie']))
      .optional()
      .describe('What consistent-hash hashes: a request header or a cookie.'),
    http2: z
      .boolean()
      .default(false)
      .describe(
        'Speak HTTP/2 to the endpoints (one multiplexed connection each): cleartext, or over TLS with `tls`.',
      ),
    tls: z
      .strictObject({
        mode: z.literal('mesh'),
        spiffeIds: z
          .array(meshSpiffeId)
          .min(1)
          .max(256)
          .optional()
          .describe(
            "The endpoints must present one of these SPIFFE IDs; any identity of the mesh's trust domain when absent.",
          ),
      })
      .optional()
      .describe(
        "Mutual TLS to the endpoints (mesh proxies' mesh listeners): the node's workload certificate is presented and the endpoint's verified against the mesh trust bundle. A refused handshake answers 503, counted.",
      ),
    circuitBreaker: z
      .strictObject({
        maxConnections: z.number().int().min(1).max(1_000_000).default(1024),
        maxPending: z.number().int().min(0).max(1_000_000).default(1024),
        maxRequests: z.number().int().min(1).max(1_000_000).default(1024),
        maxRetries: z.number().int().min(0).max(1_000_000).default(3),
      })
      .prefault({})
      .describe('Limits per cluster; a request beyond them is answered 503 at once.'),
    outlier: z
      .strictObject({
        consecutive5xx: z.number().int().min(1).max(1000).default(5),
        baseEjectionMs: milliseconds(3_600_000).default(30_000),
        maxEjectionPercent: percent.default(10),
      })
      .optional()
      .describe(
        'Eject an endpoint after consecutive 5xx or gateway errors, for baseEjectionMs times the number of its ejections.',
      ),
    healthCheck: z
      .strictObject({
        path: z.string().startsWith('/', 'must start with "/"'),
        intervalMs: milliseconds(3_600_000).default(5_000),
        timeoutMs: milliseconds(600_000).default(1_000),
        unhealthy: z.number().int().min(1).max(100).default(3),
        healthy: z.number().int().min(1).max(100).default(2),
      })
      .optional()
      .describe('Active HTTP GET health checks; a 2xx answer is healthy.'),
  })
  .superRefine((cluster, ctx) => {
    if (cluster.endpoints.length === 0 && cluster.service === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'needs at least one endpoint (or a `service` to discover them from)',
      });
    }
    if ((cluster.lb === 'consistent-hash') !== (cluster.hashOn !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hashOn'],
        message: 'is required with lb: consistent-hash and allowed only with it',
      });
    }
  })
  .describe('A set of upstream endpoints and how requests are spread over them.');

/** Adds an issue for each item whose name an earlier item already has. */
function refuseDuplicateNames(
  items: readonly { readonly name: string }[],
  kind: string,
  path: string,
  ctx: z.core.$RefinementCtx,
): void {
  const first = new Map<string, number>();
  items.forEach((item, index) => {
    const earlier = first.get(item.name);
    if (earlier === undefined) first.set(item.name, index);
    else
      ctx.addIssue({
        code: 'custom',
        path: [path, index, 'name'],
        message: `"${item.name}" is also the name of ${kind} ${earlier}`,
      });
  });
}

export const httpSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).max(64).default([]),
    routes: z.array(routeSchema).max(4096).default([]),
    clusters: z.array(clusterSchema).max(4096).default([]),
    retryBudget: z
      .strictObject({
        percent: percent
          .default(20)
          .describe('Retries in flight as a share of the requests in flight.'),
        minConcurrency: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(3)
          .describe('Retries always allowed in flight at once, however few requests are active.'),
      })
      .prefault({})
      .describe('Stops retry storms: retries beyond it are not made.'),
    accessLog: z
      .strictObject({
        percent: percent
          .default(1)
          .describe('Share of requests written to the access log (JSON lines on stdout).'),
        errors: z
          .boolean()
          .default(true)
          .describe('Also log every request answered 5xx or failed, whatever the share.'),
      })
      .prefault({})
      .describe('Structured access log with sampling.'),
  })
  .superRefine((http, ctx) => {
    refuseDuplicateNames(http.listeners, 'listener', 'listeners', ctx);
    refuseDuplicateNames(http.routes, 'route', 'routes', ctx);
    refuseDuplicateNames(http.clusters, 'cluster', 'clusters', ctx);
    const listeners = new Set(http.listeners.map((listener) => listener.name));
    const clusters = new Set(http.clusters.map((cluster) => cluster.name));
    http.routes.forEach((route, index) => {
      if (route.listener !== undefined && !listeners.has(route.listener)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'listener'],
          message: `no listener is named "${route.listener}"`,
        });
      }
      const { action } = route;
      const targets: [(string | number)[], string | undefined][] = [
        [['cluster'], action.cluster],
        ...(action.weighted ?? []).map((split, at): [(string | number)[], string] => [
          ['weighted', at, 'cluster'],
          split.cluster,
        ]),
        [['mirror', 'cluster'], action.mirror?.cluster],
      ];
      for (const [path, cluster] of targets) {
        if (cluster !== undefined && !clusters.has(cluster)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index, 'action', ...path],
            message: `no cluster is named "${cluster}"`,
          });
        }
      }
    });
  })
  .describe('HTTP/1.1, HTTP/2 and gRPC proxy: listeners, routes and clusters.');

export type HttpConfig = z.output<typeof httpSchema>;
export type HttpListenerConfig = z.output<typeof listenerSchema>;
export type HttpRouteConfig = z.output<typeof routeSchema>;
export type HttpClusterConfig = z.output<typeof clusterSchema>;
export type HttpListenerTlsConfig = z.output<typeof listenerTlsSchema>;
export type HttpAuthorizationConfig = z.output<typeof authorizationSchema>;
export type HttpRouteMatchConfig = z.output<typeof matchSchema>;
