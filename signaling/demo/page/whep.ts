/**
 * A WHEP viewer (RFC 9725's egress twin): POST a recvonly SDP offer to
 * /whep/<camera path>, apply the answer, and DELETE the session resource
 * (the Location of the 201) to stop. No trickle: the offer waits (briefly)
 * for its host candidates.
 */
import type { StatsSource } from './stats.js';

const GATHERING_WAIT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 10_000;

export class WhepError extends Error {
  override readonly name = 'WhepError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The WHEP endpoint of a camera path ("lobby/door" -> "/whep/lobby/door"), each segment escaped. */
export function whepEndpoint(path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '');
  return `/whep/${segments.map(encodeURIComponent).join('/')}`;
}

export class WhepViewer {
  readonly path: string;
  readonly #pc: RTCPeerConnection;
  readonly #resource: string;
  #stopped = false;

  private constructor(path: string, pc: RTCPeerConnection, resource: string) {
    this.path = path;
    this.#pc = pc;
    this.#resource = resource;
  }

  /** Starts watching `path`; `onTrack` gets the camera's video track. */
  static async start(
    path: string,
    onTrack: (track: MediaStreamTrack) => void,
  ): Promise<WhepViewer> {
    const pc = new RTCPeerConnection();
    let resource: string | undefined;
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addEventListener('track', (event) => {
        onTrack(event.track);
      });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHERING_WAIT_MS);
      const offer = pc.localDescription?.sdp ?? '';
      const response = await fetch(whepEndpoint(path), {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: offer,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const answer = await response.text();
      if (response.status !== 201) {
        throw new WhepError(response.status, `WHEP ${response.status}: ${answer.slice(0, 200)}`);
      }
      const location = response.headers.get('location');
      if (location === null) throw new WhepError(response.status, 'WHEP answer without Location');
      resource = new URL(location, response.url).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      return new WhepViewer(path, pc, resource);
    } catch (error) {
      pc.close();
      // A session the server made but we cannot use is ended at once.
      if (resource !== undefined) await endSession(resource);
      throw error;
    }
  }

  get connectionState(): RTCPeerConnectionState {
    return this.#pc.connectionState;
  }

  stats(): StatsSource {
    return {
      id: `whep:${this.path}`,
      owner: `camera:${this.path}`,
      direction: 'inbound',
      kind: 'video',
      getStats: () => this.#pc.getStats(),
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#pc.close();
    await endSession(this.#resource);
  }
}

async function endSession(resource: string): Promise<void> {
  try {
    await fetch(resource, { method: 'DELETE', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    // The server ends sessions whose peer is gone on its own; nothing else to do.
    console.warn('WHEP DELETE failed', error);
  }
}

function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}
