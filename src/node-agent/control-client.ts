/**
 * A node's side of MeshControl: register, hold the config stream, apply each
 * snapshot and answer ACK or NACK, send heartbeats. When the control plane is
 * unreachable the node keeps its last good config and retries with jittered
 * exponential backoff, so a restarted control plane is not stampeded.
 */
import type * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, type Registry as MetricsRegistry } from 'prom-client';
import { Backoff } from '../shared/backoff.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import {
  MAX_STATS_JSON_LENGTH,
  createMeshControlClient,
  type ConfigSnapshot,
  type MeshControlClient,
  type NodeIdentity,
  type NodeMessageOut,
  type RegisterResponse,
} from '../protocol/mesh/index.js';

export interface ControlClientOptions {
  readonly address: string;
  readonly identity: NodeIdentity;
  readonly capabilities: readonly string[];
  readonly listenAddresses: Readonly<Record<string, string>>;
  /** The version the node runs now ('' for none), reported on every (re)connect. */
  readonly currentVersion: () => string;
  /** Applies a snapshot, or throws with the reason it is rejected. */
  readonly apply: (snapshot: ConfigSnapshot) => Promise<void>;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly backoff?: Backoff;
  /** What the node reports with each heartbeat (JSON-serializable); undefined sends none. */
  readonly stats?: () => unknown;
}

export class ControlClient {
  readonly #options: ControlClientOptions;
  readonly #client: MeshControlClient;
  readonly #backoff: Backoff;
  readonly #connected: Gauge;
  readonly #reconnects: Counter;
  #stream: grpc.ClientDuplexStream<NodeMessageOut, ConfigSnapshot> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** Snapshots are applied one at a time, in the order they arrive. */
  #applying: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ControlClientOptions) {
    this.#options = options;
    this.#client = createMeshControlClient(options.address);
    this.#backoff = options.backoff ?? new Backoff({ baseMs: 200, maxMs: 5_000 });
    this.#connected = new Gauge({
      name: 'streammesh_node_control_plane_connected',
      help: '1 while the config stream to the control plane is open.',
      registers: [options.metrics],
    });
    this.#reconnects = new Counter({
      name: 'streammesh_node_control_plane_reconnects_total',
      help: 'Attempts to reach the control plane again after a failure.',
      registers: [options.metrics],
    });
  }

  start(): void {
    this.#connect();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#stopStream();
    this.#client.close();
  }

  #connect(): void {
    if (this.#closed) return;
    const { identity, capabilities, listenAddresses } = this.#options;
    this.#client.register(
      {
        identity,
        capabilities: [...capabilities],
        listenAddresses: { ...listenAddresses },
        currentVersion: this.#options.currentVersion(),
      },
      { deadline: Date.now() + 3_000 },
      (error, response) => {
        if (error !== null || response === undefined) {
          this.#retryLater(error?.details ?? 'no response');
          return;
        }
        this.#openStream(response);
      },
    );
  }

  #openStream(registration: RegisterResponse): void {
    if (this.#closed) return;
    const stream = this.#client.streamConfig();
    this.#stream = stream;
    let failed = false;
    const fail = (reason: string): void => {
      if (failed || this.#stream !== stream) return;
      failed = true;
      this.#stopStream();
      this.#retryLater(reason);
    };
    stream.on('data', (snapshot: ConfigSnapshot) => {
      // A snapshot proves the stream works end to end.
      this.#backoff.reset();
      this.#connected.set(1);
      this.#applying = this.#applying.then(() => this.#applyAndAnswer(stream, snapshot));
    });
    stream.on('error', (error: grpc.ServiceError) => fail(error.details || error.message));
    stream.on('end', () => fail('stream ended by the control plane'));
    stream.write({
      hello: { id: this.#options.identity.id, currentVersion: this.#options.currentVersion() },
    });
    const interval = Math.max(100, registration.heartbeatIntervalMs);
    this.#heartbeat = setInterval(() => {
      stream.write({ heartbeat: { sentAtMs: Date.now() } });
      this.#reportStats(stream);
    }, interval);
  }

  #reportStats(stream: grpc.ClientDuplexStream<NodeMessageOut, ConfigSnapshot>): void {
    const stats = this.#options.stats?.();
    if (stats === undefined) return;
    const statsJson = JSON.stringify(stats);
    const bytes = Buffer.byteLength(statsJson);
    if (bytes > MAX_STATS_JSON_LENGTH) {
      this.#options.log.warn(
        { bytes, max: MAX_STATS_JSON_LENGTH },
        'stats report too large; not sent',
      );
      return;
    }
    stream.write({ stats: { sentAtMs: Date.now(), statsJson } });
  }

  async #applyAndAnswer(
    stream: grpc.ClientDuplexStream<NodeMessageOut, ConfigSnapshot>,
    snapshot: ConfigSnapshot,
  ): Promise<void> {
    let answer: NodeMessageOut;
    try {
      await this.#options.apply(snapshot);
      answer = { ack: { version: snapshot.version } };
    } catch (error) {
      const reason = errorMessage(error);
      this.#options.log.warn({ version: snapshot.version, reason }, 'config rejected (NACK)');
      answer = { nack: { version: snapshot.version, reason } };
    }
    if (this.#stream === stream) stream.write(answer);
  }

  #stopStream(): void {
    clearInterval(this.#heartbeat);
    this.#connected.set(0);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
  }

  #retryLater(reason: string): void {
    if (this.#closed) return;
    const delay = this.#backoff.next();
    this.#reconnects.inc();
    this.#options.log.warn(
      { reason, retryInMs: delay, attempt: this.#backoff.attempt },
      'control plane unreachable; keeping the last good config',
    );
    this.#retry = setTimeout(() => this.#connect(), delay);
  }
}
