/**
 * The control plane's part of MeshControl, scripted by a test, on
 * 127.0.0.1 (the real gRPC service definition): it accepts every node and
 * records, per resource stream, the messages the node sent in order; the
 * test writes the updates itself (call.write) and can cut a stream where it
 * wants, e.g. while an update is mid-transaction. For tests of a node's
 * side (the control client, a signaling node's reports); scripted-proxy.ts
 * and rooms-scripted-signaling.ts are the other way round.
 */
import * as grpc from '@grpc/grpc-js';
import {
  meshControlService,
  type MeshControlHandlers,
  type NodeMessage,
  type ResourceUpdate,
} from '../../../src/protocol/mesh/index.js';

/** One resource stream as the server sees it: the messages it received, in order. */
export interface ScriptedStream {
  readonly call: grpc.ServerDuplexStream<NodeMessage, ResourceUpdate>;
  readonly messages: NodeMessage[];
}

export interface ScriptedControlPlaneOptions {
  /** What Register answers: whether the control plane places sessions (a node holds PLACEMENTs). */
  readonly placesSessions: boolean;
}

export class ScriptedControlPlane {
  readonly streams: ScriptedStream[] = [];
  readonly #server = new grpc.Server();
  #port = 0;

  constructor(options: ScriptedControlPlaneOptions) {
    const handlers: MeshControlHandlers = {
      register: (_call, callback) => {
        callback(null, { heartbeatIntervalMs: 60_000, placesSessions: options.placesSessions });
      },
      streamResources: (call) => {
        const stream: ScriptedStream = { call, messages: [] };
        this.streams.push(stream);
        call.on('data', (message: NodeMessage) => stream.messages.push(message));
        // A stream a test cuts, or a node closes, is not under test.
        call.on('error', () => undefined);
      },
    };
    this.#server.addService(meshControlService(), handlers);
  }

  /** host:port, once listening. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Listens on a free port of 127.0.0.1. */
  async listen(): Promise<void> {
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => {
        if (e === null) resolve(port);
        else reject(e);
      });
    });
  }

  close(): void {
    this.#server.forceShutdown();
  }
}

/** The messages of one kind a stream received, in order (none for no stream yet). */
export function messagesOf<K extends NodeMessage['kind']>(
  stream: ScriptedStream | undefined,
  kind: K,
): Extract<NodeMessage, { kind: K }>[] {
  return (stream?.messages ?? []).filter(
    (message): message is Extract<NodeMessage, { kind: K }> => message.kind === kind,
  );
}
