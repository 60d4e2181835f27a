/**
 * The push part of `npm run bench:mesh` (issue 16): how long a change takes
 * to reach N simulated nodes (500 by default) and be ACKed.
 *
 * The control plane runs in this process, built from the same parts as
 * startControlPlane (ConfigStore, Registry, PlacementService,
 * ConfigPushServer with its gRPC listener on 127.0.0.1, port 0), without the
 * admin listener: the bench sets the store itself, so the clock starts at
 * store.set(), and it sees each ACK as the registry records it (a Registry
 * whose acked() also notes the time). The nodes are thin MeshControl clients
 * in this process, each on its own HTTP/2 connection: Register, then
 * StreamResources with a Hello, a heartbeat every second, and an ACK for
 * every update. They are not ControlClient: grpc-js shares one connection
 * among clients of the same target and options (its global subchannel
 * pool), and the server allows 16 streams per connection, while real nodes
 * each hold a connection of their own; here each client asks for a local
 * subchannel pool. All clients come from 127.0.0.1, so the bench raises
 * controlPlane.grpcMaxConnectionsPerSource (default 256) to N + 16.
 *
 * Three kinds of change, `changes` times each, one after the other:
 * - config: logLevel flips (the MESH_SETTINGS resource, one update per node);
 * - placement: a camera path is added, which the control plane places on
 *   one proxy; every proxy is sent the RTSP_PATH, then the new PLACEMENT
 *   resource (two updates per node, the assignment being the second);
 * - move: the owner of one of those cameras closes its stream; once it is
 *   stale, the placement service moves the camera and every other proxy is
 *   sent the changed PLACEMENT resource (one update per node).
 * Per change: from store.set() (move: from the placement service's change
 * event) until each node received every resource of the change (received)
 * and the control plane recorded its ACK of every update of it (acked):
 * median and p99 over nodes, and the last node.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { parseConfigText, PLACEMENT, type MeshConfig } from '../../src/config/index.js';
import { ConfigPushServer, ConfigStore } from '../../src/control-plane/config-push/index.js';
import { PlacementService } from '../../src/control-plane/placement/index.js';
import { Registry } from '../../src/control-plane/registry/index.js';
import { validHostPort, type HostPort } from '../../src/shared/address.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/log.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import {
  MAX_UPDATE_BYTES,
  meshControlService,
  type MeshControlClient,
  type NodeMessageOut,
  type ResourceUpdate,
} from '../../src/protocol/mesh/index.js';
import { log } from '../common/cli.js';
import { meshResultHeader } from './results.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';

export interface PushParameters {
  readonly nodes: number;
  /** Changes of each kind. */
  readonly changes: number;
}

export type ChangeKind = 'config' | 'placement' | 'move';

/** One change, in ms from store.set(). */
export interface ChangeFigures {
  readonly kind: ChangeKind;
  readonly version: string;
  /**
   * config, placement: how long store.set() itself took (it writes every
   * node's update before returning); move: 0, the clock starts when the
   * placement service emits the move, which writes every update.
   */
  readonly setMs: number;
  /** move only: ms from the owner's stream closing until the move (staleness, then a reconcile pass). */
  readonly detectedAfterMs?: number;
  readonly receivedP50Ms: number;
  readonly receivedP99Ms: number;
  readonly receivedLastMs: number;
  readonly ackedP50Ms: number;
  readonly ackedP99Ms: number;
  readonly ackedLastMs: number;
}

export interface PushSummary {
  readonly changes: number;
  /** Medians over the changes of each figure. */
  readonly receivedP50Ms: number;
  readonly receivedP99Ms: number;
  readonly receivedLastMs: number;
  readonly ackedP50Ms: number;
  readonly ackedP99Ms: number;
  readonly ackedLastMs: number;
  /** The aim: every node ACKed within 1 s (median over changes of the last node). */
  readonly allAckedUnder1s: boolean;
  /** move only: median ms from the owner's stream closing until the move. */
  readonly detectedAfterMs?: number;
}

export interface PushResults {
  readonly benchmark: 'mesh-push';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: PushParameters;
  readonly method: readonly string[];
  /** ms until every node had registered and ACKed its first update. */
  readonly connectMs: number;
  readonly runs: readonly ChangeFigures[];
  readonly medians: Record<ChangeKind, PushSummary>;
}

/** How long one change may take to reach every node before the bench gives up. */
const CHANGE_TIMEOUT_MS = 10_000;
/** Nodes connecting at once while the mesh starts. */
const CONNECT_BATCH = 50;
const HEARTBEAT_INTERVAL_MS = 1_000;

/** What one change waits for, per node. */
class ChangeRound {
  readonly #expectedTypes: ReadonlySet<string>;
  readonly #nodes = new Map<
    string,
    { types: Set<string>; updates: number; acks: number; receivedAt?: number; ackedAt?: number }
  >();
  readonly #total: number;
  #done = 0;
  #finished: (() => void) | undefined;
  readonly finished: Promise<void>;

  constructor(
    readonly version: string,
    expectedTypes: readonly string[],
    nodes: number,
    readonly start: number,
  ) {
    this.#expectedTypes = new Set(expectedTypes);
    this.#total = nodes;
    this.finished = new Promise((resolve) => {
      this.#finished = resolve;
    });
  }

  received(node: string, update: ResourceUpdate, at: number): void {
    if (update.systemVersion !== this.version) return;
    const state = this.#state(node);
    state.updates += 1;
    for (const resource of update.resources) state.types.add(resource.type);
    if (state.receivedAt === undefined && this.#hasAll(state.types)) state.receivedAt = at;
  }

  acked(node: string, version: string, at: number): void {
    if (version !== this.version) return;
    const state = this.#state(node);
    state.acks += 1;
    // An ACK of the first of two updates is not yet the change acknowledged.
    if (state.ackedAt !== undefined || state.receivedAt === undefined) return;
    if (state.acks < state.updates) return;
    state.ackedAt = at;
    this.#done += 1;
    if (this.#done === this.#total) this.#finished?.();
  }

  get pending(): number {
    return this.#total - this.#done;
  }

  /** ms from the start to each node's reception and recorded ACK. */
  times(): { received: number[]; acked: number[] } {
    const received: number[] = [];
    const acked: number[] = [];
    for (const state of this.#nodes.values()) {
      if (state.receivedAt !== undefined) received.push(state.receivedAt - this.start);
      if (state.ackedAt !== undefined) acked.push(state.ackedAt - this.start);
    }
    return { received, acked };
  }

  #hasAll(types: ReadonlySet<string>): boolean {
    for (const type of this.#expectedTypes) if (!types.has(type)) return false;
    return true;
  }

  #state(node: string) {
    let state = this.#nodes.get(node);
    if (state === undefined) {
      state = { types: new Set(), updates: 0, acks: 0 };
      this.#nodes.set(node, state);
    }
    return state;
  }
}

/** The control plane's registry, noting when each ACK is recorded. */
class AckTimingRegistry extends Registry {
  onAck: (node: string, version: string, at: number) => void = () => undefined;

  override acked(id: string, version: string): void {
    super.acked(id, version);
    this.onAck(id, version, performance.now());
  }
}

type ClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => MeshControlClient;

/**
 * A simulated proxy: registers, holds its resource stream, heartbeats, and
 * ACKs each update at once (applying nothing), naming its resources.
 */
class SimulatedNode {
  readonly #client: MeshControlClient;
  #stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    address: string,
    Client: ClientConstructor,
    private readonly onUpdate: (node: string, update: ResourceUpdate, at: number) => void,
  ) {
    this.#client = new Client(address, grpc.credentials.createInsecure(), {
      // A connection of its own, as a node on its own machine has.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': MAX_UPDATE_BYTES,
    });
  }

  /** Resolves once the node has ACKed its first update. */
  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#client.register(
        {
          identity: { id: this.id, node: this.id, role: 'ROLE_PROXY' },
          capabilities: [],
          listenAddresses: {},
          currentVersion: '',
        },
        { deadline: Date.now() + 10_000 },
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
    const stream = this.#client.streamResources();
    this.#stream = stream;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (update: ResourceUpdate) => {
        this.onUpdate(this.id, update, performance.now());
        stream.write({
          ack: {
            nonce: update.nonce,
            systemVersion: update.systemVersion,
            applied: update.resources.map(({ type, name, version }) => ({ type, name, version })),
          },
        });
        resolve();
      });
      stream.on('error', (error: grpc.ServiceError) => {
        // Cancelled is our own close.
        if (error.code !== grpc.status.CANCELLED) reject(error);
      });
      stream.write({ hello: { id: this.id, systemVersion: '', resources: [], placements: [] } });
    });
    this.#heartbeat = setInterval(() => {
      stream.write({ heartbeat: { sentAtMs: Date.now() } });
    }, HEARTBEAT_INTERVAL_MS);
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#stream?.cancel();
    this.#client.close();
  }
}

function configText(nodes: number, cameras: number, logLevel: string): string {
  const paths = Array.from(
    { length: cameras },
    (_, index) => `      bench-cam${index}: { source: "rtsp://127.0.0.1:9/cam${index}" }`,
  );
  return [
    `logLevel: ${logLevel}`,
    'controlPlane:',
    '  admin: 127.0.0.1:0',
    '  grpc: 127.0.0.1:0',
    `  heartbeatIntervalMs: ${HEARTBEAT_INTERVAL_MS}`,
    // Every simulated node connects from 127.0.0.1.
    `  grpcMaxConnections: ${nodes + 16}`,
    `  grpcMaxConnectionsPerSource: ${nodes + 16}`,
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    '    listen: 127.0.0.1:0',
    '    demo: false',
    ...(paths.length === 0 ? ['    paths: {}'] : ['    paths:', ...paths]),
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
  ].join('\n');
}

interface PushRun {
  readonly connectMs: number;
  readonly runs: ChangeFigures[];
}

export async function runPush(parameters: PushParameters): Promise<PushRun> {
  const silent = createLogger('control-plane', 'silent');
  const initial = parseConfigText(configText(parameters.nodes, 0, 'info'), 'bench');
  const store = new ConfigStore(initial, 'bench');
  const registry = new AckTimingRegistry({
    clock: systemClock,
    heartbeatIntervalMs: initial.controlPlane.heartbeatIntervalMs,
    staleAfterMissedHeartbeats: initial.controlPlane.staleAfterMissedHeartbeats,
    maxNodes: 10_000,
    forgetAfterMs: 10 * 60_000,
  });
  // No grace: nothing is placed before the bench adds its first camera.
  const placements = new PlacementService({
    store,
    registry,
    clock: systemClock,
    log: silent,
    graceMs: 0,
  });
  // Registered before the push server's listener, so it runs first: the
  // clock of a move starts before any of its updates is written.
  let onPlacementChange: (() => void) | undefined;
  placements.on('change', () => onPlacementChange?.());
  const server = new ConfigPushServer({
    listen: validHostPort(initial.controlPlane.grpc),
    store,
    registry,
    placements,
    heartbeatIntervalMs: initial.controlPlane.heartbeatIntervalMs,
    budget: {
      maxConnections: initial.controlPlane.grpcMaxConnections,
      maxPerSource: initial.controlPlane.grpcMaxConnectionsPerSource,
      headTimeoutMs: initial.controlPlane.grpcHeadTimeoutMs,
    },
    metrics: createMetricsRegistry('control-plane'),
    log: silent,
  });
  const listening: HostPort = await server.listen();
  placements.start();
  const Client = grpc.makeGenericClientConstructor(
    meshControlService(),
    'MeshControl',
  ) as unknown as ClientConstructor;

  let round: ChangeRound | undefined;
  registry.onAck = (node, version, at) => round?.acked(node, version, at);
  const onUpdate = (node: string, update: ResourceUpdate, at: number): void =>
    round?.received(node, update, at);
  const nodes: SimulatedNode[] = [];
  try {
    const connectStart = performance.now();
    for (let first = 0; first < parameters.nodes; first += CONNECT_BATCH) {
      const batch: SimulatedNode[] = [];
      for (let i = first; i < Math.min(parameters.nodes, first + CONNECT_BATCH); i++) {
        batch.push(new SimulatedNode(`sim-${i}`, `127.0.0.1:${listening.port}`, Client, onUpdate));
      }
      nodes.push(...batch);
      await Promise.all(batch.map((node) => node.connect()));
    }
    const connectMs = round1(performance.now() - connectStart);
    log(`push: ${parameters.nodes} simulated nodes connected in ${connectMs} ms`);
    // Placement takes in new proxies on its reconcile pass (every 200 ms):
    // until then a new camera would wait for that pass, not for the push.
    await until(
      () => placements.view().nodes.length === parameters.nodes,
      5_000,
      'placement to count every simulated node',
    );

    const runs: ChangeFigures[] = [];
    let cameras = 0;
    let logLevel = 'info';
    const change = async (
      kind: ChangeKind,
      next: MeshConfig,
      types: readonly string[],
    ): Promise<void> => {
      const start = performance.now();
      // Synchronous: every node's update is written before set() returns.
      if (!store.set(next, 'bench')) throw new Error('the bench config did not change');
      const setMs = performance.now() - start;
      round = new ChangeRound(store.current.version, types, parameters.nodes, start);
      // ACKs cannot arrive before this: they need the event loop, which set() held.
      const current = round;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${kind} change: ${current.pending} nodes not done within 10 s`)),
          CHANGE_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([current.finished, timeout]);
      } finally {
        clearTimeout(timer);
      }
      runs.push(figures(kind, current, setMs));
      round = undefined;
    };
    /** The owner of `key` goes away; every other proxy is told where the key went. */
    const move = async (key: string, liveNodes: number): Promise<void> => {
      const owner = placements.view().placements.find((placement) => placement.key === key)?.node;
      const node = nodes.find(({ id }) => id === owner);
      if (node === undefined) throw new Error(`${key} is not placed on a simulated node`);
      const closedAt = performance.now();
      const started = new Promise<ChangeRound>((resolve) => {
        onPlacementChange = () => {
          onPlacementChange = undefined;
          round = new ChangeRound(store.current.version, [PLACEMENT], liveNodes, performance.now());
          resolve(round);
        };
      });
      node.close();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`move of ${key}: not moved and ACKed within 10 s`)),
          CHANGE_TIMEOUT_MS,
        );
      });
      try {
        const current = await Promise.race([started, timeout]);
        await Promise.race([current.finished, timeout]);
        runs.push({
          ...figures('move', current, 0),
          detectedAfterMs: round1(current.start - closedAt),
        });
      } finally {
        clearTimeout(timer);
        onPlacementChange = undefined;
        round = undefined;
      }
    };
    for (let i = 0; i < parameters.changes; i++) {
      logLevel = logLevel === 'info' ? 'warn' : 'info';
      const next = parseConfigText(configText(parameters.nodes, cameras, logLevel), 'bench');
      await change('config', next, ['MESH_SETTINGS']);
    }
    for (let i = 0; i < parameters.changes; i++) {
      cameras += 1;
      const next = parseConfigText(configText(parameters.nodes, cameras, logLevel), 'bench');
      await change('placement', next, ['RTSP_PATH', PLACEMENT]);
    }
    for (let i = 0; i < parameters.changes; i++) {
      await move(`camera/bench-cam${i}`, parameters.nodes - i - 1);
    }
    return { connectMs, runs };
  } finally {
    for (const node of nodes) node.close();
    placements.close();
    await server.close();
  }
}

/** Runs the push part and writes its JSON (mesh-push.json in `outDir`) and table. */
export async function benchPush(parameters: PushParameters, outDir: string): Promise<void> {
  const started = Date.now();
  const { connectMs, runs } = await runPush(parameters);
  const results: PushResults = {
    ...meshResultHeader('mesh-push', started),
    parameters,
    method: [
      'One process: a control plane built from the parts startControlPlane uses (ConfigStore, Registry, PlacementService, ConfigPushServer with its gRPC listener and connection budget on 127.0.0.1, port 0; no admin listener) and N simulated proxies.',
      'A simulated proxy is a thin MeshControl client on its own HTTP/2 connection (grpc.use_local_subchannel_pool): Register, StreamResources with a Hello, a heartbeat every second, an ACK for every update at once (nothing applied). ControlClient is not used: grpc-js would share one connection among all of them, and the server takes 16 streams per connection.',
      'controlPlane.grpcMaxConnectionsPerSource and grpcMaxConnections are raised to N + 16: every client connects from 127.0.0.1.',
      'config: logLevel flips, i.e. the MESH_SETTINGS resource changes; one update per node. placement: a camera path is added; the control plane places it on one proxy and sends every proxy the RTSP_PATH, then the PLACEMENT resource, as two updates. move: the simulated node holding one of those cameras closes its stream; after it misses 3 heartbeats of 1 s the placement service moves the camera and every other proxy is sent the changed PLACEMENT resource (one update); detectedAfterMs is that wait.',
      'Clock: performance.now() just before ConfigStore.set(), which writes every node its update before it returns (move: at the placement service change event, whose listener the bench registers before the push server does). received = the node has every resource of the change; acked = the control plane registry recorded the node ACK of every update of that version. Per change: median, p99 and last over nodes; the figures quoted are medians over the changes.',
    ],
    connectMs,
    runs,
    medians: summarizePush(runs),
  };
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, 'mesh-push.json');
  writeFileSync(jsonFile, await formattedJson(jsonFile, results));
  process.stdout.write(`\n${pushTable(results)}\n`);
  log(`wrote ${jsonFile} in ${results.durationSeconds} s`);
}

function figures(kind: ChangeKind, change: ChangeRound, setMs: number): ChangeFigures {
  const { received, acked } = change.times();
  return {
    kind,
    version: change.version,
    setMs: round1(setMs),
    receivedP50Ms: round1(median(received)),
    receivedP99Ms: round1(quantile(received, 0.99)),
    receivedLastMs: round1(Math.max(...received)),
    ackedP50Ms: round1(median(acked)),
    ackedP99Ms: round1(quantile(acked, 0.99)),
    ackedLastMs: round1(Math.max(...acked)),
  };
}

export function summarizePush(runs: readonly ChangeFigures[]): Record<ChangeKind, PushSummary> {
  const of = (kind: ChangeKind): PushSummary => {
    const mine = runs.filter((run) => run.kind === kind);
    const med = (pick: (run: ChangeFigures) => number): number => round1(median(mine.map(pick)));
    const ackedLastMs = med((run) => run.ackedLastMs);
    return {
      changes: mine.length,
      receivedP50Ms: med((run) => run.receivedP50Ms),
      receivedP99Ms: med((run) => run.receivedP99Ms),
      receivedLastMs: med((run) => run.receivedLastMs),
      ackedP50Ms: med((run) => run.ackedP50Ms),
      ackedP99Ms: med((run) => run.ackedP99Ms),
      ackedLastMs,
      allAckedUnder1s: ackedLastMs < 1_000,
      ...(kind === 'move'
        ? { detectedAfterMs: med((run) => run.detectedAfterMs ?? Number.NaN) }
        : {}),
    };
  };
  return { config: of('config'), placement: of('placement'), move: of('move') };
}

export function pushTable(results: PushResults): string {
  const header = ['change', 'recv p50', 'recv p99', 'recv last', 'ACK p50', 'ACK p99', 'ACK last'];
  const rows = Object.entries(results.medians).map(([kind, m]) => [
    kind,
    ...[
      m.receivedP50Ms,
      m.receivedP99Ms,
      m.receivedLastMs,
      m.ackedP50Ms,
      m.ackedP99Ms,
      m.ackedLastMs,
    ].map((ms) => ms.toFixed(1)),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const aims = Object.entries(results.medians)
    .map(([kind, m]) => `${kind} ${m.allAckedUnder1s ? 'yes' : 'NO'}`)
    .join(', ');
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `push: ms from the control plane's store set until each of ${results.parameters.nodes} simulated nodes (gRPC clients, one connection each) received the change / the control plane recorded its ACK; medians of ${results.parameters.changes} changes of each kind`,
    `move: the owner of a camera closes its stream; the clock starts when the control plane moves the camera (it found the owner stale after ${results.medians.move.detectedAfterMs ?? '-'} ms, median), ${results.parameters.nodes - 1} to ${results.parameters.nodes - results.parameters.changes} nodes left`,
    `aim (every node ACKed under 1 s): ${aims}`,
  ].join('\n');
}

async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function round1(value: number): number {
  return round(value, 1);
}
