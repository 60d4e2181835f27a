/**
 * Typed access to proto/streammesh/v1/mesh.proto. The message types mirror
 * what @grpc/proto-loader decodes with the options below (camelCase fields,
 * enums as strings, defaults filled in, `kind` naming the set oneof member).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../../shared/package-root.js';

export type { HopStats } from './hop-stats.js';

export type Role = 'ROLE_UNSPECIFIED' | 'ROLE_PROXY' | 'ROLE_SIGNALING';

export interface NodeIdentity {
  id: string;
  node: string;
  role: Role;
}

export interface RegisterRequest {
  identity: NodeIdentity;
  capabilities: string[];
  listenAddresses: Record<string, string>;
  currentVersion: string;
}

export interface RegisterResponse {
  heartbeatIntervalMs: number;
  /** The control plane places media sessions; false (the default) from one without placement. */
  placesSessions: boolean;
}

/** Bytes of a stats report's JSON; the control plane drops larger ones. */
export const MAX_STATS_JSON_LENGTH = 1024 * 1024;
/** Characters of a NACK's reason (whole or per resource); longer ones are cut. */
export const MAX_REASON_LENGTH = 2048;
/** Per-resource errors a NACK carries at most; the rest are summed up in its reason. */
export const MAX_RESOURCE_ERRORS = 256;
/** Resources a Hello may name at most. */
export const MAX_HELLO_RESOURCES = 20_000;
export const MAX_RESOURCE_NAME_LENGTH = 253;
/**
 * Bytes of placements (names, versions, bodies) a Hello returns at most: the
 * control plane receives at most about 1 MiB per message, and a Hello over
 * it would keep the node from ever reconnecting. Past it the node returns
 * the placements it carries first; the control plane resends the others.
 */
export const MAX_HELLO_PLACEMENT_BYTES = 512 * 1024;
export const MAX_RESOURCE_VERSION_LENGTH = 64;
/**
 * Bytes of one ResourceUpdate a node accepts: a whole config of thousands of
 * routes and clusters fits; the control plane is trusted by its nodes.
 */
export const MAX_UPDATE_BYTES = 64 * 1024 * 1024;

export type WireResourceType =
  | 'RESOURCE_TYPE_UNSPECIFIED'
  | 'MESH_SETTINGS'
  | 'MEDIA_ROUTE'
  | 'RTSP_SETTINGS'
  | 'RTSP_PATH'
  | 'HTTP_LISTENER'
  | 'HTTP_ROUTE'
  | 'HTTP_CLUSTER'
  | 'HTTP_ENDPOINTS'
  | 'SIGNALING_SETTINGS'
  | 'PLACEMENT'
  | 'MEDIA_KEY'
  | 'TRUST_BUNDLE'
  | 'SIGNALING_NODE'
  | 'PIPE';

export interface WireResourceRef {
  type: WireResourceType;
  name: string;
  version: string;
}

export interface WireResource extends WireResourceRef {
  order: number;
  bodyJson: string;
}

export interface ResourceUpdate {
  nonce: string;
  systemVersion: string;
  resources: WireResource[];
  removed: WireResourceRef[];
  /** Unix ms the node is drained until; 0 (or absent from an older control plane): not draining. */
  drainDeadlineMs?: number;
}

/** A node asks to be drained (SIGTERM on a proxy) until `deadlineMs` (Unix ms). */
export interface DrainRequest {
  deadlineMs: number;
}

export interface StatsReport {
  sentAtMs: number;
  /** JSON; its schema belongs to the node's role. */
  statsJson: string;
}

export interface Capacity {
  packetsPerSecond: number;
  bitrateBps: number;
  sessions: number;
}

export interface LoadReport {
  sentAtMs: number;
  packetsPerSecond: number;
  bitrateBps: number;
  cpuCores: number;
  sessions: number;
  capacity: Capacity;
  /** Signaling nodes: mediasoup producers and consumers now (0 from proxies and older nodes). */
  producers?: number;
  consumers?: number;
  /** Signaling nodes: cores the busiest mediasoup worker used over the last interval. */
  workerCpuCores?: number;
}

/** A camera stream a proxy wants over a hop, and where it receives it. */
export interface HopRequest {
  /** The session key ("camera/<path>"). */
  session: string;
  /** host:port of the receiving socket. */
  address: string;
}

export interface HopRequests {
  sentAtMs: number;
  requests: HopRequest[];
}

/** Hop requests one node message may carry; more are refused. */
export const MAX_HOP_REQUESTS = 10_000;

/** One SFU room a signaling node has local participants in. */
export interface RoomReport {
  room: string;
  peers: number;
  producers: number;
}

/** The whole set of a signaling node's rooms (sent on change and after each Hello). */
export interface RoomReports {
  sentAtMs: number;
  rooms: RoomReport[];
}

/** Rooms one report may name at most; a larger report is refused whole. */
export const MAX_ROOM_REPORTS = 10_000;

/** A signaling node's end of one PIPE: its PipeTransport's address and SRTP key. */
export interface PipeEndpoint {
  pipeId: string;
  address: string;
  srtpCryptoSuite: string;
  srtpKeyBase64: string;
}

/** The whole set of a signaling node's pipe ends (sent on change and after each Hello). */
export interface PipeEndpoints {
  sentAtMs: number;
  endpoints: PipeEndpoint[];
}

/** Pipe ends one message may carry at most; a larger set is refused whole. */
export const MAX_PIPE_ENDPOINTS = 10_000;

export interface Hello {
  id: string;
  systemVersion: string;
  /** Config resources only (never PLACEMENT). */
  resources: WireResourceRef[];
  /** PLACEMENT resources held, with bodies (absent from older nodes: decoded as []). */
  placements: WireResource[];
}

export interface Ack {
  nonce: string;
  systemVersion: string;
  applied: WireResourceRef[];
}

export interface ResourceError {
  resource: WireResourceRef;
  reason: string;
}

export interface Nack {
  nonce: string;
  systemVersion: string;
  reason: string;
  errors: ResourceError[];
}

/**
 * What the server decodes (defaults filled in). A message field absent on
 * the wire decodes as null, so `capacity` and `resource` may be null.
 */
export type NodeMessage =
  | { kind: 'hello'; hello: Hello }
  | { kind: 'ack'; ack: Ack }
  | { kind: 'nack'; nack: Omit<Nack, 'errors'> & { errors: NullableResourceError[] } }
  | { kind: 'heartbeat'; heartbeat: { sentAtMs: number } }
  | { kind: 'stats'; stats: StatsReport }
  | { kind: 'load'; load: Omit<LoadReport, 'capacity'> & { capacity: Capacity | null } }
  | { kind: 'hops'; hops: HopRequests }
  | { kind: 'drain'; drain: DrainRequest }
  | { kind: 'rooms'; rooms: RoomReports }
  | { kind: 'pipes'; pipes: PipeEndpoints };

export interface NullableResourceError {
  resource: WireResourceRef | null;
  reason: string;
}

/** What a node sends: one member of the oneof. */
export type NodeMessageOut =
  | { hello: Omit<Hello, 'placements'> & { placements?: WireResource[] } }
  | { ack: Ack }
  | { nack: Nack }
  | { heartbeat: { sentAtMs: number } }
  | { stats: StatsReport }
  | { load: LoadReport }
  | { hops: HopRequests }
  | { drain: DrainRequest }
  | { rooms: RoomReports }
  | { pipes: PipeEndpoints };

export interface MeshControlHandlers extends grpc.UntypedServiceImplementation {
  register: grpc.handleUnaryCall<RegisterRequest, RegisterResponse>;
  streamResources: grpc.handleBidiStreamingCall<NodeMessage, ResourceUpdate>;
}

export interface MeshControlClient extends grpc.Client {
  register(
    request: RegisterRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: RegisterResponse) => void,
  ): grpc.ClientUnaryCall;
  streamResources(
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate>;
}

interface MeshControlConstructor {
  new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ): MeshControlClient;
  service: grpc.ServiceDefinition;
}

export interface CertificateRequest {
  csrPem: string;
  /** Empty for a renewal over mutual TLS. */
  bootstrapToken: string;
  /** Empty for a workload that is not a node. */
  nodeId: string;
}

export interface CertificateResponse {
  certificatePem: string;
  chainPem: string;
  trustBundlePem: string;
  notAfterMs: number;
  spiffeId: string;
}

export interface MeshIdentityHandlers extends grpc.UntypedServiceImplementation {
  issueCertificate: grpc.handleUnaryCall<CertificateRequest, CertificateResponse>;
}

export interface MeshIdentityClient extends grpc.Client {
  issueCertificate(
    request: CertificateRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: CertificateResponse) => void,
  ): grpc.ClientUnaryCall;
}

interface ServiceConstructor<Client> {
  new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ): Client;
  service: grpc.ServiceDefinition;
}

interface LoadedServices {
  readonly MeshControl: MeshControlConstructor;
  readonly MeshIdentity: ServiceConstructor<MeshIdentityClient>;
}

let loaded: LoadedServices | undefined;

function services(): LoadedServices {
  if (loaded !== undefined) return loaded;
  const definition = loadSync(join(packageRoot(), 'proto/streammesh/v1/mesh.proto'), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    streammesh: { v1: LoadedServices };
  };
  loaded = root.streammesh.v1;
  return loaded;
}

export function meshControlService(): grpc.ServiceDefinition {
  return services().MeshControl.service;
}

export function meshIdentityService(): grpc.ServiceDefinition {
  return services().MeshIdentity.service;
}

/** A MeshIdentity client: TLS credentials (the control plane's certificate checked) in production. */
export function createMeshIdentityClient(
  address: string,
  credentials: grpc.ChannelCredentials,
): MeshIdentityClient {
  const Client = services().MeshIdentity;
  return new Client(address, credentials, { ...SERVER_NAME });
}

/**
 * The TLS server name (SNI) a node sends: grpc-js would send the target's
 * host, an IP address for most control planes, which node:tls warns about
 * (DEP0123: SNI must be a host name). Mesh certificates carry no DNS name
 * and nodes check the control plane's SPIFFE ID instead, so the name only
 * needs to be a valid one.
 */
const SERVER_NAME = { 'grpc.ssl_target_name_override': 'control-plane.streammesh' } as const;

/**
 * A MeshControl client; plaintext unless `credentials` are given (a control
 * plane with controlPlane.mtls needs the node's workload certificate).
 */
export function createMeshControlClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): MeshControlClient {
  const Client = services().MeshControl;
  return new Client(address, credentials, {
    ...SERVER_NAME,
    // Notice a dead control plane within seconds, not at the next TCP timeout.
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    // The channel's own reconnect backoff (1 s growing to 120 s by default)
    // would hold a node's retries back long after a new control plane leads
    // (a Kubernetes failover, a restart): keep it within the node's own
    // retry backoff (control-client.ts: 200 ms to 5 s).
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
    // A whole config as one update (a first connect) may exceed the 4 MiB default.
    'grpc.max_receive_message_length': MAX_UPDATE_BYTES,
  });
}
