/**
 * Typed access to proto/streammesh/v1/mesh.proto. The message types mirror
 * what @grpc/proto-loader decodes with the options below (camelCase fields,
 * enums as strings, defaults filled in, `kind` naming the set oneof member).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../../shared/package-root.js';

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
}

/** Bytes of a stats report's JSON; the control plane drops larger ones. */
export const MAX_STATS_JSON_LENGTH = 1024 * 1024;

export interface StatsReport {
  sentAtMs: number;
  /** JSON; its schema belongs to the node's role. */
  statsJson: string;
}

export type NodeMessage =
  | { kind: 'hello'; hello: { id: string; currentVersion: string } }
  | { kind: 'ack'; ack: { version: string } }
  | { kind: 'nack'; nack: { version: string; reason: string } }
  | { kind: 'heartbeat'; heartbeat: { sentAtMs: number } }
  | { kind: 'stats'; stats: StatsReport };

/** What a node sends: the same union without the decoder's `kind` tag. */
export type NodeMessageOut =
  | { hello: { id: string; currentVersion: string } }
  | { ack: { version: string } }
  | { nack: { version: string; reason: string } }
  | { heartbeat: { sentAtMs: number } }
  | { stats: StatsReport };

export interface ConfigSnapshot {
  version: string;
  configJson: string;
}

export interface MeshControlHandlers extends grpc.UntypedServiceImplementation {
  register: grpc.handleUnaryCall<RegisterRequest, RegisterResponse>;
  streamConfig: grpc.handleBidiStreamingCall<NodeMessage, ConfigSnapshot>;
}

export interface MeshControlClient extends grpc.Client {
  register(
    request: RegisterRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: RegisterResponse) => void,
  ): grpc.ClientUnaryCall;
  streamConfig(options?: grpc.CallOptions): grpc.ClientDuplexStream<NodeMessageOut, ConfigSnapshot>;
}

interface MeshControlConstructor {
  new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ): MeshControlClient;
  service: grpc.ServiceDefinition;
}

let loaded: MeshControlConstructor | undefined;

function meshControl(): MeshControlConstructor {
  if (loaded !== undefined) return loaded;
  const definition = loadSync(join(packageRoot(), 'proto/streammesh/v1/mesh.proto'), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    streammesh: { v1: { MeshControl: MeshControlConstructor } };
  };
  loaded = root.streammesh.v1.MeshControl;
  return loaded;
}

export function meshControlService(): grpc.ServiceDefinition {
  return meshControl().service;
}

export function createMeshControlClient(address: string): MeshControlClient {
  const Client = meshControl();
  return new Client(address, grpc.credentials.createInsecure(), {
    // Notice a dead control plane within seconds, not at the next TCP timeout.
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
}
