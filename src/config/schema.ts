/**
 * The one definition of streammesh's configuration. Everything else — the
 * JSON Schema (`streammesh config schema`), defaults, validation of files,
 * environment overrides and pushed snapshots — is derived from this.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isLoopbackHost, parseHostPort } from '../shared/address.js';
import { errorMessage } from '../shared/errors.js';
import { usableCores } from '../shared/usable-cores.js';
import { parseSpiffeId, trustDomainDefect } from '../shared/identity/index.js';
import { httpSchema } from './http-schema.js';
import { kubernetesSchema } from './kubernetes-schema.js';
import { routesSchema } from './routes-schema.js';
import { rtspSchema } from './rtsp-schema.js';
import {
  connectTimeoutMsSchema,
  signalingConnectionsSchema,
  webrtcBudgetsSchema,
} from './signaling-budgets-schema.js';

const hostPort = z
  .string()
  .superRefine((text, ctx) => {
    const parsed = parseHostPort(text);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  })
  .describe('A listen or dial address as host:port; port 0 picks a free port.');

const ipAddress = z
  .string()
  .refine((text) => isIP(text) !== 0, { message: 'must be an IPv4 or IPv6 address' });

const port = z.number().int('must be an integer').min(1).max(65535);

const name = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, {
  message: 'must be a DNS label: lowercase letters, digits, "-" and ".", at most 63 characters',
});

/** The most data-plane workers a proxy runs, set or defaulted: each is a media thread and an L7 thread with a heap of its own. */
export const MAX_PROXY_WORKERS = 64;

/**
 * proxy.workers as the proxy starts with it: the value set, or one per core
 * this process may use, never more than an explicit value may be (a
 * 128-core node without a CPU limit gets 64, not 128).
 */
export function proxyWorkersOf(
  proxy: { readonly workers?: number | undefined },
  cores: number = usableCores(),
): number {
  return proxy.workers ?? Math.min(cores, MAX_PROXY_WORKERS);
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const logLevelSchema = z.enum(logLevels).describe('Minimum level of log lines written.');

const caSchema = z
  .strictObject({
    dir: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'Directory where the mesh CA keeps its root (root.pem: certificate and key, mode 0600) and trust bundle (bundle.pem). ' +
          'The root is generated on first start (directory 0700) and read on later ones; a key file others may read is refused. ' +
          'Relative to the working directory; read at start. ' +
          'Default: $XDG_STATE_HOME/streammesh/ca, else ~/.local/state/streammesh/ca.',
      ),
    certFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        "An operator's root certificate (PEM) to issue with instead of a generated one; needs keyFile. " +
          'Such a root is trusted alone and never rotated by the CA. Read at start.',
      ),
    keyFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'The private key of certFile (PEM, ECDSA P-256); refused when others may read it (make it 0600). Read at start.',
      ),
    leafLifetimeSec: z
      .number()
      .int()
      .min(10)
      .max(365 * 86_400)
      .default(86_400)
      .describe(
        'How long a workload certificate is valid; workloads renew at half-life. Its notBefore is 5 minutes in the past, for clock skew. ' +
          'The floor is 10 s so that tests and rotation drills see several renewals in seconds; production wants hours.',
      ),
  })
  .superRefine((ca, ctx) => {
    if ((ca.certFile === undefined) !== (ca.keyFile === undefined)) {
      const missing = ca.certFile === undefined ? 'certFile' : 'keyFile';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: 'certFile and keyFile go together: an operator root needs both',
      });
    }
    if (ca.certFile !== undefined && ca.dir !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['dir'],
        message: 'a CA directory is for a generated root; with certFile and keyFile, leave it out',
      });
    }
  })
  .describe(
    "The mesh CA: signs workload certificates (SPIFFE IDs) with a generated root or an operator's.",
  );

const controlPlaneSchema = z
  .strictObject({
    admin: hostPort
      .default('127.0.0.1:15100')
      .describe(
        'Admin HTTP listener: /metrics, /healthz, /readyz, /config, /nodes. Beyond loopback only with an admin token.',
      ),
    grpc: hostPort.default('127.0.0.1:15101').describe('gRPC listener that nodes connect to.'),
    grpcMaxConnections: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1024)
      .describe(
        'Concurrent connections on the gRPC listener; more are refused at accept and counted. Read at start.',
      ),
    grpcMaxConnectionsPerSource: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(256)
      .describe(
        'Concurrent gRPC connections from one source address; more are refused at accept and counted. Read at start.',
      ),
    grpcHeadTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(10_000)
      .describe(
        'A gRPC connection must open its first call (send the HTTP/2 preface and a request HEADERS frame) within this; else it is closed and counted. Read at start.',
      ),
    address: hostPort
      .optional()
      .describe('Where proxies and signaling nodes dial the control plane; default: grpc.'),
    adminTokenFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        "File holding the admin bearer token that PUT /config (and the proxy's GET /keys) require. " +
          'The control plane creates it with a random token on first start (mode 0600, directory 0700) ' +
          'and refuses to start if others may read it; proxy and signaling nodes on the machine read it. ' +
          'STREAMMESH_ADMIN_TOKEN, when set, is the token instead (for nodes on other machines). ' +
          'Relative to the working directory; read at start. ' +
          'Default: $XDG_STATE_HOME/streammesh/admin-token, else ~/.local/state/streammesh/admin-token.',
      ),
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe('How often nodes send a heartbeat on their config stream.'),
    staleAfterMissedHeartbeats: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(3)
      .describe('A node that misses this many heartbeats in a row is marked stale.'),
    hopKeyRotationSec: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .default(3600)
      .describe(
        'How often the SRTP key of each proxy-to-proxy camera hop is rotated; a key is valid for three periods.',
      ),
    trustDomain: z
      .string()
      .superRefine((text, ctx) => {
        const defect = trustDomainDefect(text);
        if (defect !== undefined) ctx.addIssue({ code: 'custom', message: defect });
      })
      .default('streammesh.local')
      .describe(
        'The trust domain of the mesh CA: workload certificates name spiffe://<trustDomain>/ns/<namespace>/sa/<service account>, ' +
          'and the CA certifies no other domain. Changing it makes every issued certificate foreign. Read at start.',
      ),
    ca: caSchema.prefault({}),
    registry: z
      .enum(['file', 'kubernetes'])
      .default('file')
      .describe(
        'Where services, cameras, routes and endpoints come from. file: this config (the embedded default). kubernetes: this config laid under the custom resources (Camera, MediaRoute) and EndpointSlices read from the API server, with leader election among replicas, the CA root in a Secret, and workloads authenticated by ServiceAccount tokens (controlPlane.kubernetes). Read at start.',
      ),
    kubernetes: kubernetesSchema.prefault({}),
    mtls: z
      .boolean()
      .default(true)
      .describe(
        'Mutual TLS on the gRPC listener: the control plane presents a certificate of its CA, and Register and the resource stream ' +
          'need a client certificate of the trust domain whose CN is the node id (nodes get one with the bootstrap token). ' +
          'false: plaintext gRPC, any process that reaches the port may register (tests and old nodes only). Read at start.',
      ),
    bootstrapTokenFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'File holding the bootstrap token a workload shows to get its first certificate. ' +
          'The control plane creates it with a random token on first start (mode 0600, directory 0700); nodes on the machine read it. ' +
          'STREAMMESH_BOOTSTRAP_TOKEN, when set, is the token instead (for nodes on other machines). Read at start. ' +
          'Default: $XDG_STATE_HOME/streammesh/bootstrap-token, else ~/.local/state/streammesh/bootstrap-token.',
      ),
    adminMtls: hostPort
      .optional()
      .describe(
        'A second admin listener serving the same routes over mutual TLS with a certificate of the mesh CA: there a client certificate naming one of `operators` stands for the admin token ' +
          '(`streammesh cert operator` makes one). Open routes (/metrics, /healthz) stay open to clients without a certificate. Read at start.',
      ),
    operators: z
      .array(
        z.string().superRefine((text, ctx) => {
          try {
            parseSpiffeId(text);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: errorMessage(error) });
          }
        }),
      )
      .max(64)
      .optional()
      .describe(
        'SPIFFE IDs whose client certificate on adminMtls counts as the admin token. Default: spiffe://<trustDomain>/ns/streammesh/sa/operator.',
      ),
    signalingIdentities: z
      .array(
        z.string().superRefine((text, ctx) => {
          try {
            parseSpiffeId(text);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: errorMessage(error) });
          }
        }),
      )
      .min(1)
      .max(64)
      .optional()
      .describe(
        'With mtls: the SPIFFE IDs that may register as signaling nodes; a node whose certificate names another ID is refused the signaling role, ' +
          'and one that names one of these is refused every other role. Default: signaling.identity and each signaling.instances[].serviceAccount, ' +
          'in signaling.identity.namespace and the trust domain. Read at start.',
      ),
    trustBundleFile: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        "Where nodes read the roots (PEM) they check the control plane's certificate against before they have one of their own. " +
          'STREAMMESH_TRUST_BUNDLE, when set, is the file instead. Default: ca.certFile, else bundle.pem in ca.dir (the embedded CA on this machine).',
      ),
  })
  .describe('The control plane: registry and config push.');

/**
 * Who a node is in the mesh: its SPIFFE ID is
 * spiffe://<controlPlane.trustDomain>/ns/<namespace>/sa/<serviceAccount>.
 * Node-local, like the node's id: never taken from a pushed config.
 */
function workloadIdentitySchema(defaultServiceAccount: string) {
  return z
    .strictObject({
      namespace: name.default('default').describe('The namespace part of the SPIFFE ID.'),
      serviceAccount: name
        .default(defaultServiceAccount)
        .describe(
          'The service account part of the SPIFFE ID: the name authorization policies match (e.g. the service this proxy is the sidecar of).',
        ),
    })
    .describe(
      "The node's workload identity: spiffe://<controlPlane.trustDomain>/ns/<namespace>/sa/<serviceAccount> in its certificate.",
    );
}

const rtpPortsSchema = z
  .strictObject({ start: port, end: port })
  .superRefine((range, ctx) => {
    if (range.start > range.end) {
      ctx.addIssue({ code: 'custom', message: 'start must be <= end' });
    } else if (range.start % 2 !== 0) {
      ctx.addIssue({ code: 'custom', message: 'start must be even (RTP even, RTCP odd)' });
    } else if (range.end - range.start < 1) {
      ctx.addIssue({ code: 'custom', message: 'must hold at least one RTP/RTCP port pair' });
    }
  })
  .describe('UDP ports the proxy allocates media ports from (inclusive).');

const rtcPortsSchema = z
  .strictObject({ start: port, end: port })
  .superRefine((range, ctx) => {
    if (range.start > range.end) ctx.addIssue({ code: 'custom', message: 'start must be <= end' });
  })
  .describe(
    'UDP ports of the WebRTC transports (inclusive), split between the workers; must not overlap proxy.rtpPorts.',
  );

/**
 * What a node declares it can carry, reported with its load so the control
 * plane (and the placement to come) can compare load against room.
 */
function capacitySchema(defaults: {
  packetsPerSecond: number;
  bitrateBps: number;
  sessions: number;
}) {
  return z
    .strictObject({
      packetsPerSecond: z
        .number()
        .int('must be an integer')
        .min(1)
        .max(1_000_000_000)
        .default(defaults.packetsPerSecond)
        .describe('Media packets per second (in and out) the node can relay.'),
      bitrateBps: z
        .number()
        .int('must be an integer')
        .min(1)
        .max(1_000_000_000_000)
        .default(defaults.bitrateBps)
        .describe('Media bits per second (in and out) the node can relay.'),
      sessions: z
        .number()
        .int('must be an integer')
        .min(1)
        .max(100_000_000)
        .default(defaults.sessions)
        .describe(
          'Media sessions the node can hold: proxy routes and RTSP viewers; SFU producers and consumers.',
        ),
    })
    .describe('Declared capacity of this node, reported to the control plane with its load.');
}

/** Several nodes of one role from one config (`streammesh up`), each on its own address. */
function instancesSchema(role: 'proxy' | 'signaling') {
  return z
    .array(
      z.strictObject({
        id: name,
        host: ipAddress,
        serviceAccount: name
          .optional()
          .describe(`This node's ${role}.identity.serviceAccount (default: the shared one).`),
      }),
    )
    .max(16)
    .default([])
    .superRefine((instances, ctx) => {
      for (const key of ['id', 'host'] as const) {
        const seen = new Set<string>();
        instances.forEach((instance, index) => {
          if (seen.has(instance[key])) {
            ctx.addIssue({ code: 'custom', path: [index, key], message: `${key} used twice` });
          }
          seen.add(instance[key]);
        });
      }
    });
}

const proxySchema = z
  .strictObject({
    id: name.optional().describe('Proxy id in the registry; default: proxy-<hostname>-<pid>.'),
    node: name.optional().describe('Name of the machine or Kubernetes node it runs on.'),
    admin: hostPort
      .default('127.0.0.1:15102')
      .describe('Admin HTTP listener: /metrics, /healthz, /readyz, /config_dump.'),
    mediaAddress: ipAddress
      .default('127.0.0.1')
      .describe('Local address media sockets bind to; must be an address of the node.'),
    rtpPorts: rtpPortsSchema.prefault({ start: 30000, end: 39999 }),
    routes: routesSchema,
    rtsp: rtspSchema.prefault({}),
    http: httpSchema.prefault({}),
    capacity: capacitySchema({
      packetsPerSecond: 200_000,
      bitrateBps: 2_000_000_000,
      sessions: 10_000,
    }).prefault({}),
    identity: workloadIdentitySchema('streammesh-proxy').prefault({}),
    maxStreams: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1000)
      .describe(
        'Streams this proxy carries at once: cameras it pulls, streams it receives over hops and from publishers. A viewer or publisher that would need one more is refused (RTSP 453) and counted in streammesh_proxy_streams_refused_total; streams carried are untouched. Always-on cameras are started whatever it says, and count.',
      ),
    drainTimeoutSec: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(25)
      .describe(
        'On SIGTERM the proxy drains for at most this long before it stops: it takes no new session, its cameras move to other proxies (the edges switch without a gap), and it stops as soon as it holds no viewer and no camera. 0: SIGTERM stops it at once. Kubernetes kills a pod 30 s after SIGTERM by default.',
      ),
    workers: z
      .number()
      .int()
      .min(1)
      .max(MAX_PROXY_WORKERS)
      .optional()
      .describe(
        "Node-local, read at start (this node's own config or STREAMMESH_PROXY_WORKERS): data-plane workers. Media routes are sharded over this many worker threads (a route stays on its worker while it runs) and the HTTP listeners are served by as many threads sharing each listening socket. Default: one per core this process may use (its CPU affinity, capped by its cgroup CPU quota: a pod's CPU limit), at most 64.",
      ),
    udpIo: z
      .enum(['auto', 'native', 'dgram'])
      .default('auto')
      .describe(
        'Node-local, read at start (or STREAMMESH_PROXY_UDP_IO): how media sockets move datagrams. native: the recvmmsg/sendmmsg addon built at npm install (native/udp-batch), refusing to start without it; dgram: node:dgram, one system call per datagram; auto: native when built, else dgram (logged once).',
      ),
    srtpEngine: z
      .enum(['auto', 'libsrtp', 'node'])
      .default('auto')
      .describe(
        "Node-local, read at start (or STREAMMESH_PROXY_SRTP_ENGINE): what protects and unprotects SRTP. libsrtp: Debian's libsrtp2 through the addon built at npm install (native/srtp), refusing to start without it; node: node:crypto; auto: libsrtp when built, else node (logged once).",
      ),
    bindHost: ipAddress
      .optional()
      .describe(
        "Node-local (this node's own config or STREAMMESH_PROXY_BIND_HOST, never the pushed one): every address the proxy listens on (admin, RTSP, HTTP listeners, relay routes, mediaAddress) takes this host, keeping its port. Lets several proxies share one config, one per address.",
      ),
    instances: instancesSchema('proxy').describe(
      '`streammesh up` runs one proxy per entry (id, and bindHost = host, e.g. 127.0.0.11) instead of one; on separate machines, run `streammesh proxy` on each with STREAMMESH_PROXY_ID and STREAMMESH_PROXY_BIND_HOST.',
    ),
  })
  .describe('The rtp-proxy: the data plane.');

const peerLimitsSchema = z
  .strictObject({
    transports: z.number().int('must be an integer').min(1).max(64).default(4),
    producers: z.number().int('must be an integer').min(1).max(64).default(4),
    consumers: z.number().int('must be an integer').min(1).max(10_000).default(200),
    incomingBitrate: z
      .number()
      .int('must be an integer')
      .min(100_000)
      .max(1_000_000_000)
      .default(5_000_000)
      .describe('Bits/s a peer may send on each of its send transports (REMB/TWCC caps it).'),
  })
  .describe('Per-peer limits; a request beyond them is refused with limit_exceeded.');

const camerasSchema = z
  .strictObject({
    rtsp: z
      .string()
      .regex(/^rtsps?:\/\/[^\s]+$/, { message: 'must be an rtsp:// URL' })
      .optional()
      .describe(
        'Base URL of the RTSP proxy that WHEP camera viewers are fed from (credentials in the URL if it asks); default: rtsp://<proxy.rtsp.listen>.',
      ),
    lingerMs: z
      .number()
      .int('must be an integer')
      .min(0)
      .max(600_000)
      .default(5_000)
      .describe('How long a camera stays pulled after its last WHEP viewer leaves.'),
  })
  .describe('Cameras of the RTSP proxy watched through WHEP at /whep/<path>.');

const signalingSchema = z
  .strictObject({
    id: name.optional().describe('Signaling node id; default: signaling-<hostname>-<pid>.'),
    node: name.optional().describe('Name of the machine or Kubernetes node it runs on.'),
    admin: hostPort
      .default('127.0.0.1:15103')
      .describe('Admin HTTP listener: /metrics, /healthz, /readyz, /config_dump.'),
    listen: hostPort
      .default('127.0.0.1:8443')
      .describe(
        'HTTP listener: WebSocket signaling at /ws, WHIP at /whip/, WHEP at /whep/, the demo page at /.',
      ),
    workers: z
      .number()
      .int('must be an integer')
      .min(1)
      .max(1024)
      .default(() => usableCores())
      .describe(
        'mediasoup worker processes; default: one per core this process may use (its CPU affinity, capped by its cgroup CPU quota).',
      ),
    rtcPorts: rtcPortsSchema.prefault({ start: 50000, end: 59999 }),
    maxPeersPerRoom: z
      .number()
      .int('must be an integer')
      .min(1)
      .max(10_000)
      .default(50)
      .describe('A join beyond this many peers in one room is refused (limit_exceeded).'),
    rtcListenIp: ipAddress
      .default('127.0.0.1')
      .describe('Local IP the WebRTC transports (ICE over UDP and TCP) listen on.'),
    announcedAddress: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe('IP or hostname put in ICE candidates instead of rtcListenIp (NAT, Kubernetes).'),
    peerLimits: peerLimitsSchema.prefault({}),
    connections: signalingConnectionsSchema.prefault({}),
    budgets: webrtcBudgetsSchema.prefault({}),
    connectTimeoutMs: connectTimeoutMsSchema,
    cameras: camerasSchema.prefault({}),
    capacity: capacitySchema({
      packetsPerSecond: 100_000,
      bitrateBps: 1_000_000_000,
      sessions: 2_000,
    }).prefault({}),
    identity: workloadIdentitySchema('streammesh-signaling').prefault({}),
    requireToken: z
      .boolean()
      .default(false)
      .describe(
        'WHIP, WHEP and WebSocket rooms need a JWT signed by the control plane (`streammesh token`): ' +
          'Authorization: Bearer, or ?jwt= (WebSocket: ?access_token=). A missing, forged or expired token is 401; a token for another room or path or role is 403.',
      ),
    publicUrl: z
      .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
      .optional()
      .describe(
        'Base URL clients reach the listener at, for WHIP/WHEP Location headers and for redirects from other signaling nodes; default: http://<listen>.',
      ),
    maxPeersPerNode: z
      .number()
      .int('must be an integer')
      .min(1)
      .max(10_000)
      .default(50)
      .describe(
        'Participants of one room this node serves at most; past it, a room spans several nodes (cascading) and new participants are placed on another node. maxPeersPerRoom still bounds the whole room.',
      ),
    cascade: z
      .strictObject({
        listen: hostPort
          .default('127.0.0.1:8444')
          .describe(
            'The cascade link: other signaling nodes connect here (mutual TLS with workload certificates) to carry room events between nodes. ' +
              'Beyond loopback only with controlPlane.mtls: true.',
          ),
        httpRedirect: z
          .boolean()
          .default(true)
          .describe(
            'WHIP and WHEP for a room held by another node are answered 307 with its URL (RFC 9725); false: this node serves them and cascades (one address behind a load balancer).',
          ),
        pipeLingerMs: z
          .number()
          .int('must be an integer')
          .min(0)
          .max(600_000)
          .default(5_000)
          .describe(
            'How long a producer piped in from another node stays after its last consumer here leaves.',
          ),
      })
      .prefault({})
      .describe(
        'Rooms across signaling nodes: pipes between nodes and the link that coordinates them.',
      ),
    drainTimeoutSec: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(25)
      .describe(
        'How long SIGTERM drains the node: it takes no new participant and asks its WebSocket peers to move to other nodes (when another is open: one that opens meanwhile, e.g. the new pod of a rolling update, is used too), and stops as soon as it serves no one, or after this long, when who is left is closed. 0: SIGTERM stops it at once. (`streammesh drain` has its own --deadline, at which the same are closed; the node then stays up, empty, until stopped.)',
      ),
    bindHost: ipAddress
      .optional()
      .describe(
        "Node-local (this node's own config or STREAMMESH_SIGNALING_BIND_HOST, never the pushed one): every address the signaling node listens on (admin, listen, cascade.listen, rtcListenIp) takes this host, keeping its port.",
      ),
    instances: instancesSchema('signaling').describe(
      '`streammesh up` runs one signaling node per entry (id, and bindHost = host, e.g. 127.0.0.21) instead of one; on separate machines, run `streammesh signaling` on each with STREAMMESH_SIGNALING_ID and STREAMMESH_SIGNALING_BIND_HOST.',
    ),
  })
  .describe('The signaling node: WebRTC edge and SFU.');

export const meshConfigSchema = z
  .strictObject({
    logLevel: logLevelSchema.default('info'),
    controlPlane: controlPlaneSchema.prefault({}),
    proxy: proxySchema.prefault({}),
    signaling: signalingSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    // Two listeners of one mesh on the same fixed host:port cannot both start.
    const listeners: [(string | number)[], string][] = [
      [['controlPlane', 'admin'], config.controlPlane.admin],
      [['controlPlane', 'grpc'], config.controlPlane.grpc],
      ...(config.controlPlane.adminMtls === undefined
        ? []
        : [[['controlPlane', 'adminMtls'], config.controlPlane.adminMtls] as [string[], string]]),
      [['proxy', 'admin'], config.proxy.admin],
      ...(config.proxy.rtsp.enabled
        ? [[['proxy', 'rtsp', 'listen'], config.proxy.rtsp.listen] as [string[], string]]
        : []),
      ...config.proxy.http.listeners.map((listener, index): [(string | number)[], string] => [
        ['proxy', 'http', 'listeners', index, 'listen'],
        listener.listen,
      ]),
      [['signaling', 'admin'], config.signaling.admin],
      [['signaling', 'listen'], config.signaling.listen],
      [['signaling', 'cascade', 'listen'], config.signaling.cascade.listen],
    ];
    const seen = new Map<string, string>();
    for (const [path, address] of listeners) {
      if (address.endsWith(':0')) continue;
      const first = seen.get(address);
      if (first === undefined) seen.set(address, path.join('.').replace(/\.(\d+)/g, '[$1]'));
      else
        ctx.addIssue({ code: 'custom', path, message: `${address} is already used by ${first}` });
    }
    // Every node registers under its id: a proxy and a signaling node of `up` may not share one.
    const proxyIds = new Set(config.proxy.instances.map((instance) => instance.id));
    config.signaling.instances.forEach((instance, index) => {
      if (proxyIds.has(instance.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['signaling', 'instances', index, 'id'],
          message: `${instance.id} is also a proxy.instances id`,
        });
      }
    });
    // The mutual-TLS admin listener's certificate comes from the mesh CA, which runs with mtls.
    if (config.controlPlane.adminMtls !== undefined && !config.controlPlane.mtls) {
      ctx.addIssue({
        code: 'custom',
        path: ['controlPlane', 'adminMtls'],
        message: 'needs controlPlane.mtls: true (its certificate comes from the mesh CA)',
      });
    }
    // Without mutual TLS a cascade link is accepted on the dialer's word and
    // source address (x-streammesh-node): anything that shares a peer's host
    // or NAT could speak for it. Like an admin listener without a token, it
    // then stays on loopback.
    const cascade = parseHostPort(config.signaling.cascade.listen);
    if (!config.controlPlane.mtls && typeof cascade !== 'string' && !isLoopbackHost(cascade.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['signaling', 'cascade', 'listen'],
        message:
          'beyond loopback only with controlPlane.mtls: true (a plaintext cascade link cannot tell who dials it)',
      });
    }
    // The proxy and the SFU bind UDP ports on the same machine in `up`.
    const rtc = config.signaling.rtcPorts;
    const rtp = config.proxy.rtpPorts;
    // Zod runs this check even when a range failed its own; report only the first problem.
    const valid = (range: { start: number; end: number }): boolean =>
      port.safeParse(range.start).success &&
      port.safeParse(range.end).success &&
      range.start <= range.end;
    if (valid(rtc) && valid(rtp) && rtc.start <= rtp.end && rtp.start <= rtc.end) {
      ctx.addIssue({
        code: 'custom',
        path: ['signaling', 'rtcPorts'],
        message: `${rtc.start}-${rtc.end} overlaps proxy.rtpPorts ${rtp.start}-${rtp.end}`,
      });
    }
  })
  .describe('streammesh configuration (one file for every role).');

/** The config with defaults applied: what every role works with. */
export type MeshConfig = z.output<typeof meshConfigSchema>;
/** What a user may write in a file. */
export type MeshConfigInput = z.input<typeof meshConfigSchema>;

export function meshConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(meshConfigSchema, { io: 'input', target: 'draft-2020-12' });
}
