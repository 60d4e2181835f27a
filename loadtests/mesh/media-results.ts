/** The shape of loadtests/results/mesh-media.json (the media part of `npm run bench:mesh`). */

/** A: every viewer on one proxy; B: the same viewers spread evenly over three. */
export type MediaSetupName = 'oneProxy' | 'threeProxies';

export const MEDIA_SETUPS: Readonly<Record<MediaSetupName, { proxies: number; label: string }>> = {
  oneProxy: { proxies: 1, label: 'A: 1 proxy' },
  threeProxies: { proxies: 3, label: 'B: 3 proxies' },
};

export interface MediaParameters {
  /** Runs of each setup (A and B alternate which goes first). */
  readonly runs: number;
  readonly viewers: number;
  /** After the mesh serves the path, before its idle window (a new process costs more at first). */
  readonly settleMs: number;
  /** After every viewer has its first packet, before the window. */
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly camera: {
    readonly size: string;
    readonly bitrateKbps: number;
    readonly pattern: string;
  };
}

export interface ProxyFigures {
  readonly id: string;
  readonly host: string;
  readonly role: 'owner' | 'edge';
  readonly viewers: number;
  readonly cpuSeconds: number;
  /** CPU (cores) in the idle window before the viewers opened. */
  readonly idleCores: number;
}

/** One setup, once: CPU over the window, what the viewers received in it. */
export interface MediaSetupRun {
  readonly setup: MediaSetupName;
  readonly run: number;
  /** 1 when this setup went first in its run, 2 when second. */
  readonly order: number;
  readonly windowSeconds: number;
  /** The proxy the control plane placed the camera on. */
  readonly owner: string;
  readonly proxies: readonly ProxyFigures[];
  /** Summed over every proxy process (utime + stime, all threads). */
  readonly proxyCpuSeconds: number;
  /** proxyCpuSeconds / window / viewers, in CPU-ms per second (millicores). */
  readonly proxyMillicoresPerViewer: number;
  /** Proxy CPU per RTP packet delivered to the viewers, µs. */
  readonly proxyUsPerPacket: number;
  /**
   * Proxies' CPU (cores, summed) over an idle window of the same length
   * before any viewer: the process, the camera pull and, in B, the hops.
   */
  readonly idleProxyCores: number;
  /** (proxy cores in the window - idleProxyCores) / viewers, in millicores: what a viewer adds. */
  readonly marginalMillicoresPerViewer: number;
  readonly controlPlaneCpuSeconds: number;
  readonly cameraCpuSeconds: number;
  /** This process: the viewers, the driver, and the admin API polls. */
  readonly viewersCpuSeconds: number;
  /** All processes (/proc/stat), e.g. 1.2 of 2 cores. */
  readonly machineBusyCores: number;
  /** RTP packets the viewers received in the window, summed. */
  readonly packetsDelivered: number;
  readonly packetsPerViewerMin: number;
  readonly packetsPerViewerMedian: number;
  /** Gaps in each viewer's numbering over the window (RFC 3550), summed. */
  readonly packetsLost: number;
  /** The camera's packets/s as the viewers received it (delivered / viewers / window). */
  readonly streamPacketsPerSecond: number;
  /** RTSP sessions the camera created while this setup ran (the mesh pulls it once: 1). */
  readonly cameraSessions: number;
  /** The owner's hops (to each edge) at the end of the window: peer and RTP packets sent. */
  readonly ownerHops: readonly { readonly peer: string; readonly rtpPackets: number }[];
}

export interface MediaSetupSummary {
  readonly runs: number;
  /** Medians over the runs of this setup. */
  readonly proxyCpuSeconds: number;
  readonly proxyCores: number;
  readonly proxyMillicoresPerViewer: number;
  readonly proxyUsPerPacket: number;
  readonly idleProxyCores: number;
  readonly marginalMillicoresPerViewer: number;
  readonly controlPlaneCores: number;
  readonly cameraCores: number;
  readonly viewersCores: number;
  readonly machineBusyCores: number;
  readonly packetsDelivered: number;
  readonly packetsLost: number;
  readonly streamPacketsPerSecond: number;
  /** The camera sessions of every run (each should be 1). */
  readonly cameraSessions: readonly number[];
}

export interface MediaResults {
  readonly benchmark: 'mesh-media';
  readonly date: string;
  readonly command: string;
  readonly durationSeconds: number;
  readonly machine: Record<string, unknown>;
  readonly parameters: MediaParameters;
  readonly method: readonly string[];
  readonly runs: readonly MediaSetupRun[];
  readonly medians: Record<MediaSetupName, MediaSetupSummary>;
  /** B over A, of the medians. */
  readonly ratios: {
    readonly proxyMillicoresPerViewer: number;
    readonly proxyUsPerPacket: number;
    readonly idleProxyCores: number;
    readonly marginalMillicoresPerViewer: number;
    readonly controlPlaneCores: number;
    readonly packetsDelivered: number;
  };
  /** The aims. */
  readonly aims: {
    /** The mesh costs at most 1.3x per viewer (ratio of median CPU per viewer). */
    readonly perViewerWithin1_3x: boolean;
    /** One camera session in every run of both setups. */
    readonly oneCameraSession: boolean;
  };
}
