/**
 * The MeshControl gRPC service: nodes register, then hold a resource stream
 * (proto/streammesh/v1/mesh.proto). A node's Hello says which resource
 * versions it holds; it is sent what differs at once, and on every change of
 * the store only the resources whose version differs from what it holds.
 * Its ACKs and NACKs (per resource) and load reports land in the registry.
 * A proxy's wanted set is the config's resources plus the current
 * PLACEMENT resources (a PlacementFeed). A placement change sends only the
 * PLACEMENT resources that changed, as one update; a config change that
 * also changes placements (a camera added or removed) sends the config
 * part, then the placement part, as two updates. A proxy's Hello returns
 * the placements it holds; they are handed to the feed before the node's
 * first delta is computed, so a restarted control plane rebuilds its
 * placements from them and sends the node nothing it already holds.
 * Camera hops (a HopFeed, the HopPlanner) work the same way, per node: a
 * proxy also wants the MEDIA_KEY resources of the hops it sends or
 * receives; they travel in the same updates as PLACEMENT, its Hello returns
 * them, and its HopRequests and ACKs go to the feed.
 * SFU rooms (issue 18, RoomFeeds): a signaling node wants the room
 * PLACEMENTs (every room's home), the SIGNALING_NODE resources (every live
 * signaling node) and the PIPEs it is an end of; a proxy wants none of
 * them, and a signaling node no camera PLACEMENT or MEDIA_KEY. They travel
 * in the non-config part of updates. A signaling node's RoomReports and
 * PipeEndpoints are checked (node-messages.ts) and handed to the feeds; a
 * bad set is dropped whole and counted by reason (never quoting a key), as
 * is one from a node that is not a signaling node, and one over the
 * stream's rate (report-limits.ts); the stream stays, and its warnings are
 * logged at most once per interval. Its
 * Hello returns the room PLACEMENTs and PIPEs it holds, handed to the feeds
 * for their restore; a feed's 'change' is sent to every signaling node.
 * Drain: every update carries the node's drain deadline (0: not
 * draining). When it changes (the registry's 'drain': `streammesh drain`, a
 * node's own DrainRequest, a restart that ends it) the node is sent an
 * update at once, with no resources if nothing else differs. A node's
 * DrainRequest with a deadline in the past or more than MAX_DRAIN_MS ahead
 * is dropped and counted; its stream stays.
 * Trust bundle (a TrustBundleFeed, with mutual TLS): every node, proxy or
 * signaling, also wants the TRUST_BUNDLE resource (the mesh CA's roots); it
 * travels in the non-config part of updates like PLACEMENT, and a change
 * (a CA rotation or retirement) is sent to every node at once. Hellos do
 * not return it: a node that reconnects is sent it again.
 * Connections reach the service through a GrpcListener, which keeps the
 * listener's connection budget.
 * Mutual TLS (controlPlane.mtls, `mtls` here): the listener serves TLS with
 * the control plane's certificate and asks every client for one (without
 * requiring it: MeshIdentity's first IssueCertificate comes from a node
 * that has none yet and shows the bootstrap token instead). MeshControl
 * then requires it itself: Register and a stream's Hello are refused
 * UNAUTHENTICATED without a certificate verified against the trust bundle,
 * PERMISSION_DENIED when its CN is another node's id; both counted. A node
 * registers with the SPIFFE ID of its certificate, and its role must fit it
 * (node-roles.ts): only a signaling identity registers (and says Hello) as
 * a signaling node, and it as nothing else, else PERMISSION_DENIED
 * `wrong_role`. An id keeps the role it registered with until the registry
 * forgets it (`role_change`). Without mtls the
 * listener is plaintext as before, and MeshIdentity is not served (a
 * bootstrap token or a certificate sent in clear text could be read or
 * swapped on the way).
 */
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { HostPort } from '../../shared/address.js';
import {
  defaultConnectionBudget,
  type ConnectionBudgetLimits,
} from '../../shared/connection-budget.js';
import {
  MEDIA_KEY,
  PIPE,
  PLACEMENT,
  SIGNALING_NODE,
  TRUST_BUNDLE,
  type HopBody,
  type PipeBody,
  type PlacementBody,
  type PushedResource,
} from '../../config/index.js';
import { errorMessage } from '../../shared/errors.js';
import {
  isRevokedCertificate,
  peerIdentity,
  type RevokedSerials,
} from '../../shared/identity/index.js';
import type { Logger } from '../../shared/log.js';
import {
  MAX_REASON_LENGTH,
  MAX_STATS_JSON_LENGTH,
  meshControlService,
  meshIdentityService,
  type MeshControlHandlers,
  type MeshIdentityHandlers,
  type NodeMessage,
  type HopRequests,
  type RegisterRequest,
  type RoomReport,
  type RegisterResponse,
  type ResourceUpdate,
  type StatsReport,
} from '../../protocol/mesh/index.js';
import { isNodeId } from '../ca/index.js';
import { roleFitsIdentity } from '../node-roles.js';
import {
  MAX_DRAIN_MS,
  RoleChangeError,
  type Delta,
  type NodeRecord,
  type Registry,
} from '../registry/index.js';
import type { ConfigStore, VersionedConfig } from './config-store.js';
import { GrpcListener, IDLE_CONNECTION_MS, MAX_STREAMS_PER_CONNECTION } from './grpc-listener.js';
import { REPORT_LOG_INTERVAL_MS, StreamReportLimits, type ReportKind } from './report-limits.js';
import {
  checkHelloPlacements,
  checkDrain,
  checkHelloResources,
  checkLoad,
  checkNackErrors,
  checkPipeEndpoints,
  checkRoomReports,
  registeredHostsOf,
  type CheckedPipeEndpoint,
} from './node-messages.js';

type NodeStream = grpc.ServerDuplexStream<NodeMessage, ResourceUpdate>;

/**
 * Where the PLACEMENT resources come from (the control plane's
 * PlacementService; a test may inject its own).
 */
export interface PlacementFeed {
  /** The PLACEMENT resources every proxy should hold now. */
  resources(): readonly PushedResource[];
  /** What a proxy's Hello says it holds (bodies checked). */
  reported(node: string, held: readonly { key: string; body: PlacementBody }[]): void;
  on(event: 'change', listener: () => void): unknown;
}

/**
 * Where the MEDIA_KEY resources come from (the control plane's HopPlanner;
 * a test may inject its own), and where what proxies say of hops goes.
 */
export interface HopFeed {
  /** The MEDIA_KEY resources `node` should hold now. */
  resources(node: string): readonly PushedResource[];
  /** What a proxy's Hello says it holds (bodies checked). */
  reported(node: string, held: readonly HopBody[]): void;
  /** Every proxy Hello, with the ids of the hops it holds (a sender holding none is new). */
  greeted(node: string, held: ReadonlySet<string>): void;
  /** A node's whole set of hop requests, unchecked. */
  requested(node: string, role: NodeRecord['role'], requests: HopRequests): void;
  /** A node acknowledged an update. */
  acked(node: string): void;
  on(event: 'change', listener: () => void): unknown;
}

/**
 * Where SFU rooms' resources come from and what signaling nodes say of
 * rooms goes (the control plane's src/control-plane/rooms; a test may
 * inject its own).
 */
export interface RoomFeeds {
  /** Room PLACEMENTs (`room/<name>`), for every signaling node; Hellos' go to reported(). */
  readonly placements: PlacementFeed;
  /** SIGNALING_NODE resources, for every signaling node. */
  readonly signalingNodes: {
    resources(): readonly PushedResource[];
    on(event: 'change', listener: () => void): unknown;
  };
  /** PIPE resources, each for its two nodes. */
  readonly pipes: {
    resources(node: string): readonly PushedResource[];
    /** What a signaling node's Hello says it holds (bodies checked). */
    reported(node: string, held: readonly PipeBody[]): void;
    /** Every signaling node Hello, with the ids of the PIPEs it holds (one holding none may be new). */
    greeted(node: string, held: ReadonlySet<string>): void;
    /** A signaling node's whole set of pipe ends (checked). */
    endpoints(node: string, endpoints: readonly CheckedPipeEndpoint[]): void;
    on(event: 'change', listener: () => void): unknown;
  };
  /** A signaling node's whole set of rooms (checked). */
  readonly membership: { report(node: string, rooms: readonly RoomReport[]): void };
}

/** The TRUST_BUNDLE resource every node should hold (the control plane's CaRotation). */
export interface TrustBundleFeed {
  resource(): PushedResource;
  on(event: 'change', listener: () => void): unknown;
}

/** Mutual TLS on the listener (controlPlane.mtls). */
export interface ChannelSecurity {
  /** TLS with the control plane's certificate, asking clients for theirs (not requiring it). */
  readonly credentials: grpc.ServerCredentials;
  /** Client certificates name SPIFFE IDs of this trust domain. */
  readonly trustDomain: string;
  /** MeshIdentity (IssueCertificate), served on the same listener. */
  readonly identity: MeshIdentityHandlers;
  /**
   * Certificates revoked before their expiry: refused at Register and at a
   * stream's hello, and a stream open under one is ended when it is revoked.
   */
  readonly revocations?: RevokedSerials & {
    on(event: 'change', listener: () => void): unknown;
  };
  /**
   * The SPIFFE IDs that may register as signaling nodes (node-roles.ts);
   * a node under one of them may take no other role. Absent: not checked.
   */
  readonly signalingIdentities?: ReadonlySet<string>;
}

/** Who a call comes from, as its verified client certificate says; or why it is refused. */
type CallerCheck =
  | { readonly ok: true; readonly spiffeId: string | undefined }
  | {
      readonly ok: false;
      readonly code: grpc.status;
      readonly details: string;
      readonly reason: 'no_certificate' | 'other_node' | 'revoked' | 'wrong_role';
    };

export interface ConfigPushServerOptions {
  readonly listen: HostPort;
  /** Mutual TLS; plaintext without (tests of the protocol, old nodes). */
  readonly mtls?: ChannelSecurity;
  readonly store: ConfigStore;
  readonly registry: Registry;
  /** PLACEMENT resources pushed to every proxy; none without. */
  readonly placements?: PlacementFeed;
  /** MEDIA_KEY resources pushed to each hop's two proxies; none without. */
  readonly hops?: HopFeed;
  /** Room PLACEMENTs, SIGNALING_NODEs and PIPEs pushed to signaling nodes; none without. */
  readonly rooms?: RoomFeeds;
  /** The TRUST_BUNDLE resource pushed to every node; none without. */
  readonly trustBundle?: TrustBundleFeed;
  readonly heartbeatIntervalMs: number;
  /** The gRPC listener's connection budget; default defaultConnectionBudget. */
  readonly budget?: ConnectionBudgetLimits;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}

export class ConfigPushServer {
  readonly #options: ConfigPushServerOptions;
  readonly #listener: GrpcListener;
  readonly #server: grpc.Server;
  readonly #streams = new Map<string, NodeStream>();
  readonly #pushes: Counter;
  readonly #resourcesSent: Counter;
  readonly #acks: Counter;
  readonly #nacks: Counter;
  readonly #badStats: Counter;
  readonly #badLoad: Counter;
  readonly #staleAnswers: Counter;
  readonly #refusedStreams: Counter;
  readonly #refusedResources: Counter;
  readonly #droppedPlacements: Counter;
  readonly #badDrains: Counter;
  readonly #badRoomReports: Counter;
  readonly #badPipeEndpoints: Counter;
  readonly #refusedRegisters: Counter;
  /**
   * The drain deadline each node was last sent (absent: 0, what a node
   * starts with). Kept across its streams: a node whose drain ended while
   * it reconnected is told so.
   */
  readonly #drainSent = new Map<string, number>();
  #nonce = 0;

  constructor(options: ConfigPushServerOptions) {
    this.#options = options;
    this.#listener = new GrpcListener({
      listen: options.listen,
      budget: options.budget ?? defaultConnectionBudget,
      metrics: options.metrics,
    });
    this.#server = new grpc.Server({
      // Nodes send small answers, hellos of at most MAX_HELLO_RESOURCES refs
      // and stats reports of at most MAX_STATS_JSON_LENGTH; a peer sending
      // more is not a node.
      'grpc.max_receive_message_length': MAX_STATS_JSON_LENGTH + 16 * 1024,
      'grpc.max_concurrent_streams': MAX_STREAMS_PER_CONNECTION,
      'grpc.max_connection_idle_ms': IDLE_CONNECTION_MS,
      // Meets each connection's head deadline at its first call.
      interceptors: [this.#listener.interceptor],
    });
    const registers = [options.metrics];
    this.#pushes = new Counter({
      name: 'streammesh_control_plane_config_pushes_total',
      help: 'Resource updates sent to nodes.',
      registers,
    });
    this.#resourcesSent = new Counter({
      name: 'streammesh_control_plane_config_resources_sent_total',
      help: 'Resources sent to nodes in updates, by type and change (update, remove).',
      labelNames: ['type', 'change'],
      registers,
    });
    this.#acks = new Counter({
      name: 'streammesh_control_plane_config_acks_total',
      help: 'Updates nodes applied.',
      registers,
    });
    this.#nacks = new Counter({
      name: 'streammesh_control_plane_config_nacks_total',
      help: 'Updates nodes refused.',
      registers,
    });
    this.#badLoad = new Counter({
      name: 'streammesh_control_plane_bad_load_reports_total',
      help: 'Load reports from nodes dropped, by reason (not_finite, negative, too_large, no_capacity).',
      labelNames: ['reason'],
      registers,
    });
    this.#staleAnswers = new Counter({
      name: 'streammesh_control_plane_stale_answers_total',
      help: 'ACKs and NACKs for an update not in flight (answered already, or of an earlier stream).',
      registers,
    });
    this.#refusedStreams = new Counter({
      name: 'streammesh_control_plane_refused_streams_total',
      help:
        'Resource streams refused at their first message, by reason (no_hello, unregistered, bad_hello; ' +
        'with mutual TLS: no_certificate, other_node, wrong_role (the certificate does not fit the registered role), ' +
        'revoked: also a stream ended when its certificate is revoked).',
      labelNames: ['reason'],
      registers,
    });
    this.#refusedRegisters = new Counter({
      name: 'streammesh_control_plane_register_refused_total',
      help:
        'Registrations refused, by reason (bad_identity, registry_full, role_change (an id registered under ' +
        'another role); with mutual TLS: no_certificate, other_node, revoked, wrong_role (a role its certificate does not hold)).',
      labelNames: ['reason'],
      registers,
    });
    this.#refusedResources = new Counter({
      name: 'streammesh_control_plane_config_refused_resources_total',
      help: 'Resources nodes named in their NACKs, by type.',
      labelNames: ['type'],
      registers,
    });
    this.#droppedPlacements = new Counter({
      name: 'streammesh_control_plane_hello_placements_dropped_total',
      help: 'Placements and hops (MEDIA_KEY) a Hello returned with a body that does not parse; the node is sent the current one.',
      registers,
    });
    this.#badDrains = new Counter({
      name: 'streammesh_control_plane_bad_drain_requests_total',
      help: 'DrainRequests from nodes dropped, by reason (not_finite, past, too_far).',
      labelNames: ['reason'],
      registers,
    });
    this.#badRoomReports = new Counter({
      name: 'streammesh_control_plane_bad_room_reports_total',
      help:
        'RoomReports sets from nodes dropped whole, by reason (not_signaling, rate_limited, too_many ' +
        '(more rooms than signaling.capacity.sessions), bad_room, duplicate_room, bad_count).',
      labelNames: ['reason'],
      registers,
    });
    this.#badPipeEndpoints = new Counter({
      name: 'streammesh_control_plane_bad_pipe_endpoints_total',
      help:
        'PipeEndpoints sets from nodes dropped whole, by reason (not_signaling, rate_limited, too_many, bad_pipe_id, ' +
        'not_own_pipe, duplicate_pipe, bad_address (not host:port, or a host the node did not register), bad_suite, bad_key).',
      labelNames: ['reason'],
      registers,
    });
    this.#badStats = new Counter({
      name: 'streammesh_control_plane_bad_stats_reports_total',
      help: 'Stats reports from nodes dropped, by reason (too_large, bad_json).',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'streammesh_control_plane_nodes',
      help: 'Registered nodes by role and state.',
      labelNames: ['node_role', 'state'],
      registers,
      collect() {
        this.reset();
        for (const node of options.registry.list()) {
          this.inc({ node_role: node.role, state: node.state });
        }
      },
    });
    const handlers: MeshControlHandlers = {
      register: (call, callback) => {
        this.#register(call.request, this.#caller(call, call.request.identity.id), callback);
      },
      streamResources: (call) => {
        this.#streamResources(call);
      },
    };
    this.#server.addService(meshControlService(), handlers);
    if (options.mtls !== undefined)
      this.#server.addService(meshIdentityService(), options.mtls.identity);
    options.store.on('change', (current) => {
      for (const [id, stream] of this.#streams) this.#sendDelta(id, stream, current);
    });
    const toProxies = (): void => {
      const current = options.store.current;
      for (const [id, stream] of this.#streams) {
        if (options.registry.get(id)?.role === 'ROLE_PROXY') {
          this.#sendDelta(id, stream, current, true);
        }
      }
    };
    options.placements?.on('change', toProxies);
    options.hops?.on('change', toProxies);
    const toSignaling = (): void => {
      const current = options.store.current;
      for (const [id, stream] of this.#streams) {
        if (options.registry.get(id)?.role === 'ROLE_SIGNALING') {
          this.#sendDelta(id, stream, current, true);
        }
      }
    };
    options.rooms?.placements.on('change', toSignaling);
    options.rooms?.signalingNodes.on('change', toSignaling);
    options.rooms?.pipes.on('change', toSignaling);
    options.trustBundle?.on('change', () => {
      // A bundle that brings a revocation goes to no stream it revokes: end those first.
      this.#endRevokedStreams();
      for (const [id, stream] of this.#streams) {
        this.#sendDelta(id, stream, options.store.current, true);
      }
    });
    options.mtls?.revocations?.on('change', () => {
      this.#endRevokedStreams();
    });
    options.registry.on('drain', (id) => {
      const deadlineMs = options.registry.drainDeadlineOf(id);
      if (deadlineMs === 0) options.log.info({ node: id }, 'node no longer draining');
      else
        options.log.info(
          { node: id, deadline: new Date(deadlineMs).toISOString() },
          'node draining',
        );
      const stream = this.#streams.get(id);
      if (stream !== undefined) this.#sendDelta(id, stream, options.store.current, true);
    });
  }

  /** Binds the listen address (port 0 picks a free port) and returns where it is bound. */
  async listen(): Promise<HostPort> {
    return this.#listener.listen(
      this.#server,
      this.#options.mtls?.credentials ?? grpc.ServerCredentials.createInsecure(),
    );
  }

  async close(): Promise<void> {
    const stopped = this.#listener.stopAccepting();
    for (const stream of this.#streams.values()) stream.end();
    this.#streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // What grpc-js has not closed by now (after forceShutdown: a peer that
    // never answered the GOAWAY) goes now.
    this.#listener.destroyHeld();
    await stopped;
  }

  /**
   * With mutual TLS: the SPIFFE ID of the call's client certificate, which
   * must name node `id` as its CN. Without: no identity, and no refusal.
   */
  #caller(
    call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>,
    id: string,
  ): CallerCheck {
    const mtls = this.#options.mtls;
    if (mtls === undefined) return { ok: true, spiffeId: undefined };
    // Present only when the TLS handshake verified it against the trust bundle.
    const certificate = call.getAuthContext().sslPeerCertificate;
    if (mtls.revocations !== undefined && isRevokedCertificate(certificate, mtls.revocations)) {
      return {
        ok: false,
        code: grpc.status.UNAUTHENTICATED,
        details: 'the client certificate is revoked',
        reason: 'revoked',
      };
    }
    const identity = peerIdentity(certificate, mtls.trustDomain);
    if (identity === undefined) {
      return {
        ok: false,
        code: grpc.status.UNAUTHENTICATED,
        details: 'a client certificate of the mesh CA is required (mutual TLS)',
        reason: 'no_certificate',
      };
    }
    if (identity.nodeId !== id) {
      return {
        ok: false,
        code: grpc.status.PERMISSION_DENIED,
        details: `the client certificate is not node ${JSON.stringify(id.slice(0, 64))}'s`,
        reason: 'other_node',
      };
    }
    return { ok: true, spiffeId: identity.spiffeId };
  }

  #register(
    request: RegisterRequest,
    caller: CallerCheck,
    callback: grpc.sendUnaryData<RegisterResponse>,
  ) {
    const { id } = request.identity;
    if (!caller.ok) {
      this.#refusedRegisters.inc({ reason: caller.reason });
      this.#options.log.warn({ reason: caller.reason }, 'registration refused');
      callback({ code: caller.code, details: caller.details });
      return;
    }
    if (!isNodeId(id) || request.identity.role === 'ROLE_UNSPECIFIED') {
      this.#refusedRegisters.inc({ reason: 'bad_identity' });
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'identity.id must be a DNS label and identity.role must be set',
      });
      return;
    }
    const role = this.#roleCheck(request.identity.role, caller.spiffeId);
    if (!role.ok) {
      this.#refusedRegisters.inc({ reason: role.reason });
      this.#options.log.warn(
        {
          node: id,
          nodeRole: request.identity.role,
          spiffeId: caller.spiffeId,
          reason: role.reason,
        },
        'registration refused',
      );
      callback({ code: role.code, details: role.details });
      return;
    }
    try {
      this.#options.registry.register(request, caller.spiffeId);
    } catch (error) {
      if (error instanceof RoleChangeError) {
        this.#refusedRegisters.inc({ reason: 'role_change' });
        this.#options.log.warn(
          { node: id, nodeRole: request.identity.role, reason: 'role_change' },
          'registration refused',
        );
        callback({ code: grpc.status.PERMISSION_DENIED, details: errorMessage(error) });
        return;
      }
      this.#refusedRegisters.inc({ reason: 'registry_full' });
      callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: errorMessage(error) });
      return;
    }
    this.#options.log.info(
      {
        node: id,
        nodeRole: request.identity.role,
        version: request.currentVersion,
        spiffeId: caller.spiffeId,
      },
      'node registered',
    );
    callback(null, {
      heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      placesSessions: this.#options.placements !== undefined,
    });
  }

  /**
   * With mutual TLS and signaling identities: whether a certificate naming
   * `spiffeId` may hold `role` (node-roles.ts). Checked at Register and at
   * each stream's Hello (a stream may come under another certificate of
   * the same node id than its Register did).
   */
  #roleCheck(role: NodeRecord['role'], spiffeId: string | undefined): CallerCheck {
    const signaling = this.#options.mtls?.signalingIdentities;
    if (signaling === undefined || spiffeId === undefined) return { ok: true, spiffeId };
    if (roleFitsIdentity(role, spiffeId, signaling)) return { ok: true, spiffeId };
    return {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details:
        role === 'ROLE_SIGNALING'
          ? 'the client certificate is not a signaling node identity (controlPlane.signalingIdentities)'
          : `a signaling node identity may not register as ${role}`,
      reason: 'wrong_role',
    };
  }

  /**
   * Ends every stream whose client certificate was revoked: the node gets
   * no further resource (key, placement, bundle) under it, and cannot
   * register again until it holds another certificate.
   */
  #endRevokedStreams(): void {
    const revocations = this.#options.mtls?.revocations;
    if (revocations === undefined) return;
    for (const [id, stream] of [...this.#streams]) {
      if (!isRevokedCertificate(stream.getAuthContext().sslPeerCertificate, revocations)) continue;
      this.#options.log.warn({ node: id }, 'resource stream ended: its certificate was revoked');
      this.#refusedStreams.inc({ reason: 'revoked' });
      const ended: Partial<grpc.StatusObject> = {
        code: grpc.status.UNAUTHENTICATED,
        details: 'the client certificate was revoked',
      };
      stream.emit('error', ended);
    }
  }

  #streamResources(call: NodeStream): void {
    let id: string | undefined;
    let refused = false;
    const limits = new StreamReportLimits(Date.now());
    call.on('data', (message: NodeMessage) => {
      // A refused stream has had its status; what the peer still sends on it
      // (already in flight, or more) is dropped, not refused once more.
      if (refused) return;
      if (id === undefined) {
        id = this.#hello(call, message);
        refused = id === undefined;
        return;
      }
      this.#onNodeMessage(id, message, limits);
    });
    const closed = (): void => {
      if (id === undefined || this.#streams.get(id) !== call) return;
      this.#streams.delete(id);
      this.#options.registry.streamClosed(id);
      this.#options.log.info({ node: id }, 'node resource stream closed');
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
  }

  /** The first message must be a Hello from a registered node, naming valid resources. */
  #hello(call: NodeStream, message: NodeMessage): string | undefined {
    const refuse = (code: grpc.status, details: string, reason: string): void => {
      this.#refusedStreams.inc({ reason });
      // grpc-js ends a server stream with a status when 'error' is emitted on it.
      const refusal: Partial<grpc.StatusObject> = { code, details };
      call.emit('error', refusal);
    };
    if (message.kind !== 'hello') {
      refuse(grpc.status.FAILED_PRECONDITION, 'first message must be a hello', 'no_hello');
      return undefined;
    }
    const { id, systemVersion } = message.hello;
    const caller = this.#caller(call, id);
    if (!caller.ok) {
      refuse(caller.code, caller.details, caller.reason);
      return undefined;
    }
    const record = this.#options.registry.get(id);
    if (record === undefined) {
      refuse(
        grpc.status.FAILED_PRECONDITION,
        'first message must be a hello from a registered node',
        'unregistered',
      );
      return undefined;
    }
    const role = this.#roleCheck(record.role, caller.spiffeId);
    if (!role.ok) {
      refuse(role.code, role.details, role.reason);
      return undefined;
    }
    const held = checkHelloResources(message.hello.resources);
    if (typeof held === 'string') {
      refuse(grpc.status.INVALID_ARGUMENT, held, 'bad_hello');
      return undefined;
    }
    // Older nodes send no placements. A proxy's room keys and pipes, and a
    // signaling node's camera keys and hops, are not theirs: ignored.
    const placements = checkHelloPlacements(message.hello.placements);
    if (typeof placements === 'string') {
      refuse(grpc.status.INVALID_ARGUMENT, placements, 'bad_hello');
      return undefined;
    }
    this.#droppedPlacements.inc(placements.dropped);
    // A node that reconnects replaces its previous stream.
    this.#streams.get(id)?.end();
    this.#streams.set(id, call);
    this.#options.registry.streamOpened(id);
    const isProxy = record.role === 'ROLE_PROXY';
    const isSignaling = record.role === 'ROLE_SIGNALING';
    const sessionPlacements = placements.held.filter(({ ref }) => !isRoomKey(ref.name));
    const roomPlacements = placements.held.filter(({ ref }) => isRoomKey(ref.name));
    const heldPipes = placements.pipes ?? [];
    record.resources.hello(
      isProxy
        ? [
            ...held,
            ...sessionPlacements.map(({ ref }) => ref),
            ...placements.hops.map(({ ref }) => ref),
          ]
        : isSignaling && this.#options.rooms !== undefined
          ? [
              ...held,
              ...roomPlacements.map(({ ref }) => ref),
              ...heldPipes.map(({ ref }) => ref),
              ...(placements.signalingNodes ?? []),
            ]
          : held,
    );
    if (isSignaling && heldPipes.length > 0) {
      this.#options.rooms?.pipes.reported(
        id,
        heldPipes.map(({ body }) => body),
      );
    }
    if (isSignaling) {
      this.#options.rooms?.pipes.greeted(id, new Set(heldPipes.map(({ ref }) => ref.name)));
    }
    if (isSignaling && roomPlacements.length > 0) {
      this.#options.rooms?.placements.reported(
        id,
        roomPlacements.map(({ ref, body }) => ({ key: ref.name, body })),
      );
    }
    // Hops first: each feed's report may emit 'change', which computes this
    // node's delta at once, and that delta must count both.
    if (isProxy && placements.hops.length > 0) {
      this.#options.hops?.reported(
        id,
        placements.hops.map(({ body }) => body),
      );
    }
    if (isProxy) {
      this.#options.hops?.greeted(id, new Set(placements.hops.map(({ ref }) => ref.name)));
    }
    if (isProxy && sessionPlacements.length > 0) {
      this.#options.placements?.reported(
        id,
        sessionPlacements.map(({ ref, body }) => ({ key: ref.name, body })),
      );
    }
    const current = this.#options.store.current;
    this.#sendDelta(id, call, current, systemVersion === current.version);
    return id;
  }

  #onNodeMessage(id: string, message: NodeMessage, limits: StreamReportLimits): void {
    const registry = this.#options.registry;
    switch (message.kind) {
      case 'ack': {
        const record = registry.get(id);
        const systemVersion = record?.resources.acked(message.ack.nonce);
        if (systemVersion === undefined) {
          this.#staleAnswers.inc();
          break;
        }
        this.#acks.inc();
        // The non-config part of a push is sent apart under the same version
        // and is ACKed even when the config part was NACKed: the node holds
        // that version only once no config refusal is in force.
        const refusingConfig = record?.resources
          .refusals()
          .some((ref) => !NON_CONFIG_TYPES.has(ref.type));
        if (refusingConfig === true) registry.seen(id);
        else registry.acked(id, systemVersion);
        this.#options.log.debug({ node: id, version: systemVersion, refusingConfig }, 'config ACK');
        // A receiver holding a new key lets its sender use it; a handover may end.
        this.#options.hops?.acked(id);
        break;
      }
      case 'nack': {
        const record = registry.get(id);
        if (record === undefined) break;
        const reason = message.nack.reason.slice(0, MAX_REASON_LENGTH);
        const refused = checkNackErrors(message.nack).filter((error) =>
          record.resources.carried(message.nack.nonce, error),
        );
        const at = new Date().toISOString();
        const systemVersion = record.resources.nacked(message.nack.nonce, refused, at);
        if (systemVersion === undefined) {
          this.#staleAnswers.inc();
          break;
        }
        this.#nacks.inc();
        for (const error of refused) this.#refusedResources.inc({ type: error.type });
        registry.nacked(id, systemVersion, reason);
        this.#options.log.warn(
          {
            node: id,
            version: systemVersion,
            reason,
            resources: refused.map((error) => `${error.type}/${error.name}`),
          },
          'config NACK',
        );
        break;
      }
      case 'heartbeat':
        registry.seen(id);
        break;
      case 'stats':
        this.#onStats(id, message.stats);
        break;
      case 'load': {
        const load = checkLoad(message.load);
        if (typeof load === 'string') {
          this.#badLoad.inc({ reason: load });
          break;
        }
        const { sentAtMs, ...figures } = load;
        registry.loaded(id, { sentAt: new Date(sentAtMs).toISOString(), ...figures });
        break;
      }
      case 'hops': {
        const role = registry.get(id)?.role;
        if (role !== undefined) this.#options.hops?.requested(id, role, message.hops);
        break;
      }
      case 'drain': {
        const deadline = checkDrain(message.drain, Date.now(), MAX_DRAIN_MS);
        if (typeof deadline === 'string') {
          this.#badDrains.inc({ reason: deadline });
          this.#options.log.warn({ node: id, reason: deadline }, 'drain request refused');
          break;
        }
        this.#options.log.info(
          { node: id, deadline: new Date(deadline).toISOString() },
          'node asked to be drained',
        );
        registry.drain(id, deadline);
        break;
      }
      case 'rooms':
        this.#onRooms(id, message.rooms, limits);
        break;
      case 'pipes':
        this.#onPipes(id, message.pipes, limits);
        break;
      case 'hello':
        break;
    }
  }

  /**
   * A signaling node's rooms: within the stream's rate, checked (at most
   * signaling.capacity.sessions rooms: a node cannot have participants in
   * more rooms than it has sessions, and a larger set would only crowd
   * other nodes' rooms out of placement), then to the membership; a set
   * over the rate or bad is dropped and counted.
   */
  #onRooms(
    id: string,
    reports: Extract<NodeMessage, { kind: 'rooms' }>['rooms'],
    limits: StreamReportLimits,
  ): void {
    const checked = this.#signalingReport(id, 'rooms', limits, this.#badRoomReports, () =>
      checkRoomReports(reports, this.#options.store.current.config.signaling.capacity.sessions),
    );
    if (checked !== undefined) this.#options.rooms?.membership.report(id, checked);
  }

  /**
   * A signaling node's pipe ends: within the stream's rate, checked (each
   * on a host the node registered: registeredHostsOf), then to the
   * planner; a set over the rate or bad is dropped and counted. The log
   * names the reason only: an endpoint holds a key.
   */
  #onPipes(
    id: string,
    endpoints: Extract<NodeMessage, { kind: 'pipes' }>['pipes'],
    limits: StreamReportLimits,
  ): void {
    const checked = this.#signalingReport(id, 'pipes', limits, this.#badPipeEndpoints, () => {
      const record = this.#options.registry.get(id);
      const hosts =
        record === undefined ? new Set<string>() : registeredHostsOf(record.listenAddresses);
      return checkPipeEndpoints(id, endpoints, hosts);
    });
    if (checked !== undefined) this.#options.rooms?.pipes.endpoints(id, checked);
  }

  /**
   * What rooms and pipe ends have in common: taken from a signaling node
   * only, within the stream's rate for `kind`, then `check`ed (a string is
   * the reason it fails). What is dropped is counted in `bad` by reason and,
   * but for a node of another role, warned of (throttled); what passes is
   * returned.
   */
  #signalingReport<T>(
    id: string,
    kind: ReportKind,
    limits: StreamReportLimits,
    bad: Counter,
    check: () => T | string,
  ): T | undefined {
    if (this.#options.registry.get(id)?.role !== 'ROLE_SIGNALING') {
      bad.inc({ reason: 'not_signaling' });
      return undefined;
    }
    const now = Date.now();
    const checked = limits.admit(kind, now) ? check() : 'rate_limited';
    if (typeof checked !== 'string') return checked;
    bad.inc({ reason: checked });
    const dropped = kind === 'rooms' ? 'room reports dropped' : 'pipe endpoints dropped';
    this.#warnThrottled(limits, now, id, checked, dropped);
    return undefined;
  }

  /** A warning about what a stream sends, at most once per REPORT_LOG_INTERVAL_MS per stream. */
  #warnThrottled(
    limits: StreamReportLimits,
    now: number,
    id: string,
    reason: string,
    message: string,
  ): void {
    if (!limits.mayLog(now)) return;
    this.#options.log.warn(
      { node: id, reason, quietForMs: REPORT_LOG_INTERVAL_MS },
      `${message} (further warnings of this stream held back for the interval; the counters count each)`,
    );
  }

  /** A report that is too large or not JSON is dropped and counted; the stream stays. */
  #onStats(id: string, report: StatsReport): void {
    if (Buffer.byteLength(report.statsJson) > MAX_STATS_JSON_LENGTH) {
      this.#badStats.inc({ reason: 'too_large' });
      return;
    }
    let stats: unknown;
    try {
      stats = JSON.parse(report.statsJson);
    } catch {
      this.#badStats.inc({ reason: 'bad_json' });
      this.#options.log.warn({ node: id }, 'stats report is not JSON; dropped');
      return;
    }
    this.#options.registry.reported(id, report.sentAtMs, stats);
  }

  /**
   * Sends the node what differs between the config (and, for a proxy, the
   * placements) and what it holds. With no difference an update is still
   * sent when the config's version moved (so the node acknowledges it), but
   * not to a node that says it runs it. Config resources and placements that
   * differ together go as two updates, config first: a node refuses a whole
   * update, and a bad placement must not hold back a config change (nor a
   * bad config resource the placements). A drain deadline the node was
   * not told yet is reason enough for an update (with no resources).
   */
  #sendDelta(id: string, stream: NodeStream, current: VersionedConfig, upToDate = false): void {
    const record: NodeRecord | undefined = this.#options.registry.get(id);
    if (record === undefined) return;
    const isProxy = record.role === 'ROLE_PROXY';
    const rooms = record.role === 'ROLE_SIGNALING' ? this.#options.rooms : undefined;
    const trustBundle = this.#options.trustBundle?.resource();
    const delta = record.resources.delta([
      ...current.resources,
      ...(isProxy
        ? [
            ...(this.#options.placements?.resources() ?? []),
            ...(this.#options.hops?.resources(id) ?? []),
          ]
        : []),
      ...(rooms === undefined
        ? []
        : [
            ...rooms.placements.resources(),
            ...rooms.signalingNodes.resources(),
            ...rooms.pipes.resources(id),
          ]),
      ...(trustBundle === undefined ? [] : [trustBundle]),
    ]);
    const parts = splitPlacements(delta);
    if (parts.length === 0) {
      const drainMoved = this.#options.registry.drainDeadlineOf(id) !== this.#drainDeadlineSent(id);
      if (upToDate && !drainMoved) return;
      parts.push(delta);
    }
    for (const part of parts) this.#send(id, stream, record, current, part);
  }

  #send(
    id: string,
    stream: NodeStream,
    record: NodeRecord,
    current: VersionedConfig,
    delta: Delta,
  ): void {
    this.#nonce += 1;
    const nonce = String(this.#nonce);
    const drainDeadlineMs = this.#options.registry.drainDeadlineOf(id);
    if (!this.#drainSent.has(id)) this.#forgetDrainsOfGoneNodes();
    this.#drainSent.set(id, drainDeadlineMs);
    record.resources.sent(nonce, current.version, delta);
    this.#pushes.inc();
    for (const resource of delta.changed) {
      this.#resourcesSent.inc({ type: resource.type, change: 'update' });
    }
    for (const ref of delta.removed) this.#resourcesSent.inc({ type: ref.type, change: 'remove' });
    this.#options.log.debug(
      {
        node: id,
        version: current.version,
        nonce,
        changed: delta.changed.length,
        removed: delta.removed.length,
        drainDeadlineMs,
      },
      'pushing resources',
    );
    stream.write({
      nonce,
      systemVersion: current.version,
      resources: delta.changed.map((resource) => ({
        type: resource.type,
        name: resource.name,
        version: resource.version,
        order: resource.order,
        bodyJson: JSON.stringify(resource.body),
      })),
      removed: delta.removed.map((ref) => ({ ...ref })),
      drainDeadlineMs,
    });
  }

  /** Nodes the registry forgot (a restarted proxy with a pid-based id never comes back). */
  #forgetDrainsOfGoneNodes(): void {
    for (const id of this.#drainSent.keys()) {
      if (this.#options.registry.get(id) === undefined) this.#drainSent.delete(id);
    }
  }

  #drainDeadlineSent(id: string): number {
    return this.#drainSent.get(id) ?? 0;
  }
}

/** Room keys (`room/<name>`) go to signaling nodes, the others to proxies. */
function isRoomKey(key: string): boolean {
  return key.startsWith('room/');
}

const NON_CONFIG_TYPES: ReadonlySet<string> = new Set([
  PLACEMENT,
  MEDIA_KEY,
  TRUST_BUNDLE,
  SIGNALING_NODE,
  PIPE,
]);

/**
 * The delta's config part and its non-config part (PLACEMENT, MEDIA_KEY,
 * TRUST_BUNDLE, SIGNALING_NODE and PIPE), each only if it holds something.
 */
function splitPlacements(delta: Delta): Delta[] {
  const isPlacement = (ref: { readonly type: string }): boolean => NON_CONFIG_TYPES.has(ref.type);
  const parts: Delta[] = [
    {
      changed: delta.changed.filter((resource) => !isPlacement(resource)),
      removed: delta.removed.filter((ref) => !isPlacement(ref)),
    },
    { changed: delta.changed.filter(isPlacement), removed: delta.removed.filter(isPlacement) },
  ];
  return parts.filter((part) => part.changed.length > 0 || part.removed.length > 0);
}
