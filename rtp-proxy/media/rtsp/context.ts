/** What the RTSP method handlers share: the paths, sessions, auth and media ports of the service. */
import type { EdgeTokenFailure } from '../../../src/shared/edge-token/index.js';
import type { Logger } from '../../../src/shared/log.js';
import type { PortAllocator } from '../../../src/media/udp/index.js';
import type { SessionTable } from './session-table.js';
import type { StreamPath } from './stream-path.js';
import type { Tally } from './tally.js';
import type { ViewerSpread } from './viewer-spread.js';
import type { ViewerAuth } from './viewer-auth.js';

export type RequestDefect =
  | 'missing_cseq'
  | 'bad_url'
  | 'unknown_path'
  | 'unauthorized'
  /** An edge token refused, by why (a bounded set: EdgeTokenFailure). */
  | `jwt_${EdgeTokenFailure}`
  | 'unknown_session'
  | 'bad_transport'
  | 'bad_state'
  | 'bad_sdp'
  | 'unknown_method'
  | 'draining'
  /** A SETUP over proxy.rtsp.maxSessionsPerSource (453). */
  | 'sessions_per_source'
  /** A DESCRIBE, PLAY or RECORD that would carry more than proxy.maxStreams (453). */
  | 'max_streams';

export interface RtspContext {
  readonly paths: ReadonlyMap<string, StreamPath>;
  readonly sessions: SessionTable;
  readonly auth: ViewerAuth;
  readonly ports: PortAllocator;
  /** UDP viewer tracks go to the media workers (proxy.workers > 1); undefined: on this thread. */
  readonly spread: ViewerSpread | undefined;
  /** Local address UDP media sockets bind to (proxy.mediaAddress). */
  readonly mediaHost: string;
  readonly sessionTimeoutSec: number;
  /** RTSP sessions one source address may hold at once (proxy.rtsp.maxSessionsPerSource). */
  readonly maxSessionsPerSource: number;
  /** Streams the node may carry at once (proxy.maxStreams), for the 453 that names it. */
  maxStreams(): number;
  readonly defects: Tally<RequestDefect>;
  /** Why new sessions are refused (the proxy drains), or undefined when they are taken. */
  readonly refusing: () => string | undefined;
  readonly log: Logger;
  now(): number;
}
