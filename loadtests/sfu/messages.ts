/** What the SFU benchmark driver (run.ts) and its child processes say over IPC. */

/**
 * The SFUs measured: streammesh's signaling node and mediasoup driven
 * directly (the default run); with --nodes 2, a mesh (in-process control
 * plane) of one signaling node and one of two cascaded nodes.
 */
export type SideName = 'streammesh' | 'bare' | 'one-node' | 'two-nodes';

/** Where one SFU node of a side listens: its host (RTC and signaling) and its worker's RTC ports. */
export interface SfuNodePlace {
  readonly host: string;
  readonly rtcMinPort: number;
  readonly rtcMaxPort: number;
}

export interface SfuNodeConfig {
  readonly side: SideName;
  /** One per signaling node of the side (one worker each: the figures are per worker). */
  readonly nodes: readonly SfuNodePlace[];
}

/** One SFU node of the side: its id, its one worker, where clients reach it. */
export interface SfuNodeInfo {
  readonly id: string;
  readonly workerPid: number;
  /** ws://.../ws (streammesh) or http://.../rpc (bare). */
  readonly url: string;
}

/** The SFU process is up (its answer to 'info'): its pid and its nodes, in the config's order. */
export interface SfuNodeReady {
  readonly type: 'info';
  readonly pid: number;
  readonly nodes: readonly SfuNodeInfo[];
}

export interface GeneratorConfig {
  readonly index: number;
  /** Bound on ICE + DTLS per PeerConnection. */
  readonly connectTimeoutMs: number;
}

export type GeneratorRequest =
  /** Where the shared RTP source should send to this generator. */
  | { readonly type: 'port' }
  /** Builds rooms: per room, `publishers` werift publishers, then `subscribers` werift subscribers consuming all of them. */
  | {
      readonly type: 'addRooms';
      readonly side: SideName;
      /** Where every publisher joins. */
      readonly url: string;
      /** Where subscriber i joins: subscriberUrls[i % length] (one node: [url]). */
      readonly subscriberUrls: readonly string[];
      readonly rooms: readonly string[];
      readonly publishers: number;
      readonly subscribers: number;
      /** Rooms built at once. */
      readonly concurrency: number;
    }
  | { readonly type: 'snapshot' }
  /** Closes every peer (and its WebSocket). */
  | { readonly type: 'closeAll' }
  | { readonly type: 'exit' };

export interface GeneratorPort {
  readonly type: 'port';
  readonly port: number;
}

export interface RoomsAdded {
  readonly type: 'addRooms';
  readonly rooms: number;
  readonly failedRooms: number;
  /** The first few distinct errors. */
  readonly errors: readonly string[];
  readonly ms: number;
}

export interface GeneratorSnapshot {
  readonly type: 'snapshot';
  /** Event-loop delay since the previous snapshot (perf_hooks), ms. */
  readonly loopDelayMs: { readonly p99: number; readonly max: number };
  /** Per consumer: packets received and expected (from sequence numbers) since its first packet. */
  readonly received: readonly number[];
  readonly expected: readonly number[];
  readonly keyframes: number;
  /** Packets of the shared RTP source that reached this generator. */
  readonly sourcePackets: number;
  /** Packets no consumer claimed (an SSRC not negotiated). */
  readonly unrouted: number;
  /** consumerClosed events the subscribers got since the last closeAll (the SFU closed a consumer under them). */
  readonly consumersClosed: number;
}

export interface AllClosed {
  readonly type: 'closeAll';
  readonly closed: number;
  readonly ms: number;
}

/** Children end by themselves after this long, whatever happens to the driver. */
export const CHILD_MAX_LIFETIME_MS = 30 * 60_000;
