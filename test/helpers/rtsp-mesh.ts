/**
 * A mesh whose proxy serves RTSP on a free port, for the RTSP proxy tests;
 * and what those tests read back from /streams.
 */
import { meshUp, type MeshUp } from './mesh-up.js';
import { ephemeralMeshConfig, writeTempConfig } from './mesh-config.js';

export interface RtspPathView {
  readonly name: string;
  readonly kind: string;
  readonly upstream: {
    readonly state: string;
    readonly transport: string | null;
    readonly reconnects: number;
    readonly outages: number;
    readonly outageMs: number;
    readonly lastError: string | null;
  };
  readonly viewers: number;
  readonly packetsIn: number;
  readonly drops: Record<string, number>;
  readonly tracks: readonly { readonly quality: { bitrateBps: number; lost: number } | null }[];
}

export interface RtspView {
  readonly listen: string;
  readonly connections: number;
  readonly paths: readonly RtspPathView[];
  readonly sessions: readonly {
    readonly path: string;
    readonly mode: string;
    readonly transport: string | null;
    readonly playing: boolean;
    readonly bytesSent: number;
    /** The media worker of each UDP track on one; empty when on the main thread. */
    readonly workers: readonly number[];
  }[];
  readonly defects: Record<string, number>;
  /** UDP viewer tracks per media worker; null when the proxy has one worker. */
  readonly viewerSpread: { readonly viewerTracks: readonly number[] } | null;
}

export interface RtspMesh extends MeshUp {
  readonly rtspPort: number;
  rtsp(): Promise<RtspView>;
  path(name: string): Promise<RtspPathView>;
  url(path: string, credentials?: string): string;
}

/** `rtspYaml`: the lines under `proxy.rtsp:` (indented by four), listen excluded. */
export async function rtspMesh(rtspYaml: string): Promise<RtspMesh> {
  const config = ephemeralMeshConfig().replace(
    '    listen: 127.0.0.1:0',
    `    listen: 127.0.0.1:0\n${rtspYaml}`,
  );
  const mesh = await meshUp(writeTempConfig(config));
  const rtsp = async (): Promise<RtspView> => (await mesh.streams<{ rtsp: RtspView }>()).rtsp;
  const listen = (await rtsp()).listen;
  const rtspPort = Number(/:(\d+)$/.exec(listen)?.[1]);
  return {
    ...mesh,
    // A role that crashed and was restarted by `up` fails the suite, even
    // when every test passed (its clients would only have seen a reconnect).
    stop: async () => {
      await mesh.stop();
      const restarts = /^\S+ exited \(.*$/m.exec(mesh.up.stdout());
      if (restarts !== null) {
        throw new Error(`${restarts[0]}\n${mesh.up.stderr().slice(-4000)}`);
      }
    },
    rtspPort,
    rtsp,
    path: async (name) => {
      const found = (await rtsp()).paths.find((p) => p.name === name);
      if (found === undefined) throw new Error(`no RTSP path ${name}`);
      return found;
    },
    url: (path, credentials) =>
      `rtsp://${credentials === undefined ? '' : `${credentials}@`}127.0.0.1:${rtspPort}/${path}`,
  };
}
