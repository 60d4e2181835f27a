/**
 * The WHIP and WHEP resources on the signaling node's HTTP listener (see
 * signaling/WHIP-WHEP.md):
 *
 *   POST    /whip/<room>                 publish into a room          201 + answer
 *   POST    /whep/rooms/<room>[/<peer>]  watch a room (or one peer)   201 + answer
 *   POST    /whep/<camera>               watch a camera               201 + answer
 *   PATCH   /whip|whep/session/<id>      trickle (204), ICE restart (200 + sdpfrag)
 *   DELETE  /whip|whep/session/<id>      end the session              200
 *   OPTIONS any of them                  204, Allow/Accept-Post/Accept-Patch, CORS
 *
 * Every refusal is a text/plain reason with its status, counted in
 * streammesh_signaling_whip_whep_refused_total{endpoint,reason}; nothing a
 * client sends makes a handler throw past here.
 *
 * Any signaling node is a door (server/door.ts, signaling/CASCADE.md): a
 * POST for a room whose home is another open node is answered 307 with
 * `Location` on that node, the path and query kept (RFC 9725 allows it),
 * unless signaling.cascade.httpRedirect is off; otherwise it is served
 * here, and a WHEP viewer of a room held only by other nodes makes this
 * node hold it too (a member no one is shown), so the room is cascaded.
 *
 * With signaling.requireToken, a POST needs an edge token signed by the
 * control plane (`Authorization: Bearer`, or `?jwt=` for players that only
 * take a URL): WHIP needs a publisher's token for the room, WHEP a token for
 * the room or the camera path (`rooms` or `paths` claims). 401 (missing,
 * forged, expired), 403 (another room, path or role), 503 until the node
 * holds the mesh trust bundle; checked before any budget is charged or the
 * body read. PATCH and DELETE are authorized by the session id, a secret
 * handed to the client that passed.
 *
 * Sessions, their transports and the rooms WHIP creates are held within the
 * node's WebRtcBudget, charged to the client's address: the session's slot
 * is taken before the body is read, the transport's before a port is bound.
 * Over budget is 429 (this source) or 503 (the node), with Retry-After; a
 * worker with no port left is 503 no_ports, never a 500.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { types } from 'mediasoup';
import type { Registry } from 'prom-client';
import {
  carriedToken,
  failureStatus,
  type EdgeAccess,
  type EdgeTokenGate,
} from '../../src/shared/edge-token/index.js';
import { CameraStatusError } from '../../src/media/rtsp-client/index.js';
import { errorMessage } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { SdpError, parseWebrtcSdp, parseSdpFragment, type SdpFragment } from '../sdp/index.js';
import {
  DEFAULT_WEBRTC_BUDGET,
  OverBudgetError,
  RoomError,
  WebRtcBudget,
  httpDoor,
  redirectLocation,
  type HttpRoute,
  type RoomMember,
  type Rooms,
} from '../server/index.js';
import type { CameraSources, RtcSettings, WatchableSource, WorkerPool } from '../sfu/index.js';
import {
  CORS_HEADERS,
  SDPFRAG_TYPE,
  SDP_TYPE,
  WhipWhepError,
  answerOptions,
  readSdpBody,
  refuse,
  requireContentType,
} from './http.js';
import { registerWhipWhepMetrics, type Endpoint, type WhipWhepMetrics } from './metrics.js';
import { newSessionId, type WhipWhepSession } from './whip-whep-session.js';
import { ViewerRouters } from './viewer-routers.js';
import { startWhepSession } from './whep.js';
import { startWhipSession, type StartedSession } from './whip.js';

export interface WhipWhepOptions {
  readonly rooms: Rooms;
  /** Where the Routers WHEP viewers consume on are created. */
  readonly pool: WorkerPool;
  readonly rtc: RtcSettings;
  readonly log: Logger;
  readonly metrics: Registry;
  /** Cameras watched at /whep/<path>; without it those answer 404. */
  readonly cameras?: CameraSources | undefined;
  /** Base URL for Location headers (signaling.publicUrl); default: a path-only Location. */
  readonly publicUrl?: string | undefined;
  /**
   * The node's budget (SignalingServer's, shared with WebSocket peers):
   * sessions, transports and rooms in total and per source address.
   * Default: one of this route's own, DEFAULT_WEBRTC_BUDGET with maxSessions.
   */
  readonly budget?: WebRtcBudget;
  /** Without `budget`: WHIP and WHEP sessions together, open or starting (default 500); more get 503. */
  readonly maxSessions?: number;
  /** A session not connected (ICE and DTLS) this long after its answer is closed (default 8 s). */
  readonly connectTimeoutMs?: number;
  /** Checks edge tokens; given when signaling.requireToken is on. */
  readonly edgeTokens?: EdgeTokenGate | undefined;
  /**
   * signaling.cascade.httpRedirect (default true): a POST for a room homed
   * on another node is a 307 there; false serves it here (cascaded).
   */
  readonly httpRedirect?: boolean;
}

export const DEFAULT_MAX_SESSIONS = DEFAULT_WEBRTC_BUDGET.sessions.total;
/** Under 10 s: a session that never completes ICE gives its ports back within 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 8_000;

/** Room, peer and camera names: what the WebSocket protocol accepts for rooms and peers. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/;
/** Retry-After for a WHEP camera viewer refused because the proxy carries all it may. */
const CAMERA_FULL_RETRY_AFTER_SEC = 5;

type Resource =
  | { readonly type: 'whip'; readonly room: string }
  | { readonly type: 'whep-room'; readonly room: string; readonly peer: string | undefined }
  | { readonly type: 'whep-camera'; readonly camera: string }
  | { readonly type: 'session'; readonly id: string };

export function whipWhepRoutes(options: WhipWhepOptions): HttpRoute[] {
  const endpoints = new WhipWhepEndpoints(options);
  return (['whip', 'whep'] as const).map((endpoint) => ({
    prefix: `/${endpoint}/`,
    handle: (request: IncomingMessage, response: ServerResponse) =>
      endpoints.handle(endpoint, request, response),
  }));
}

class WhipWhepEndpoints {
  readonly #options: WhipWhepOptions;
  readonly #log: Logger;
  readonly #metrics: WhipWhepMetrics;
  readonly #sessions = new Map<string, WhipWhepSession>();
  readonly #budget: WebRtcBudget;
  readonly #connectTimeoutMs: number;
  readonly #viewerRouters: ViewerRouters;

  constructor(options: WhipWhepOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'whip-whep' });
    this.#budget =
      options.budget ??
      new WebRtcBudget(
        {
          ...DEFAULT_WEBRTC_BUDGET,
          sessions: {
            total: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
            perSource: DEFAULT_WEBRTC_BUDGET.sessions.perSource,
          },
        },
        options.metrics,
      );
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#viewerRouters = new ViewerRouters(options.pool, this.#budget);
    this.#metrics = registerWhipWhepMetrics(options.metrics, (endpoint) => this.#count(endpoint));
  }

  async handle(
    endpoint: Endpoint,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    try {
      await this.#dispatch(endpoint, request, response);
    } catch (error) {
      const refusal = this.#asRefusal(error, endpoint, request);
      this.#metrics.refused(endpoint, refusal.reason);
      request.resume();
      refuse(response, refusal);
    }
  }

  async #dispatch(
    endpoint: Endpoint,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const resource = parseResource(endpoint, (request.url ?? '').split('?')[0] ?? '');
    const method = request.method ?? '';
    if (resource.type === 'session') {
      if (method === 'OPTIONS') {
        request.resume();
        answerOptions(response, ['PATCH', 'DELETE'], { 'accept-patch': SDPFRAG_TYPE });
        return;
      }
      const session = this.#sessions.get(resource.id);
      if (method !== 'PATCH' && method !== 'DELETE') throw notAllowed(method, 'PATCH, DELETE');
      if (session?.endpoint !== endpoint) {
        throw new WhipWhepError(404, 'unknown_session', `no ${endpoint} session ${resource.id}`);
      }
      if (method === 'DELETE') {
        request.resume();
        session.close('DELETE');
        response.writeHead(200, { ...CORS_HEADERS, 'content-type': 'text/plain' }).end('ended\n');
        return;
      }
      await this.#patch(session, request, response);
      return;
    }
    if (method === 'OPTIONS') {
      request.resume();
      answerOptions(response, ['POST'], { 'accept-post': SDP_TYPE });
      return;
    }
    if (method !== 'POST') throw notAllowed(method, 'POST');
    await this.#post(resource, request, response);
  }

  async #post(
    resource: Resource,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    this.#authorize(resource, request);
    requireContentType(request, SDP_TYPE, 'accept-post');
    const elsewhere = this.#door(resource, request);
    if (elsewhere !== undefined) {
      request.resume();
      response
        .writeHead(307, { ...CORS_HEADERS, 'content-type': 'text/plain', location: elsewhere })
        .end('the room is served by another node: POST there\n');
      return;
    }
    const source = request.socket.remoteAddress ?? 'unknown';
    // Starting sessions hold their slot too: a flood of offers cannot outrun the cap.
    const slot = this.#budget.take('sessions', source);
    let started: StartedSession;
    try {
      const offer = parseWebrtcSdp(await readSdpBody(request));
      started = await this.#start(resource, newSessionId(), offer, source);
    } catch (error) {
      slot.release();
      throw error;
    }
    const { session, answer } = started;
    const id = session.id;
    session.defer(slot.release);
    this.#sessions.set(id, session);
    session.defer(() => this.#sessions.delete(id));
    const path = `/${session.endpoint}/session/${id}`;
    response
      .writeHead(201, {
        ...CORS_HEADERS,
        'content-type': SDP_TYPE,
        location: this.#location(path),
        etag: session.etag,
        'accept-patch': SDPFRAG_TYPE,
      })
      .end(answer);
  }

  /**
   * The door (server/door.ts) for a room's POST: the Location of another
   * node to send it to, or undefined to serve it here. No doors outside a
   * mesh, nor for cameras (every node pulls them alike).
   */
  #door(resource: Resource, request: IncomingMessage): string | undefined {
    if (resource.type !== 'whip' && resource.type !== 'whep-room') return undefined;
    const facts = this.#options.rooms.doorFacts(resource.room);
    if (facts === undefined) return undefined;
    const decision = httpDoor(facts, this.#options.httpRedirect ?? true);
    if (decision.kind !== 'redirect') return undefined;
    this.#metrics.redirected(resource.type === 'whip' ? 'whip' : 'whep');
    this.#log.debug({ room: resource.room, node: decision.node }, 'POST sent to another node');
    return redirectLocation(decision.url, request.url ?? '/');
  }

  /** Throws the refusal when an edge token is required and does not open the resource. */
  #authorize(resource: Resource, request: IncomingMessage): void {
    const gate = this.#options.edgeTokens;
    if (gate === undefined || resource.type === 'session') return;
    const access: EdgeAccess =
      resource.type === 'whip'
        ? { role: 'publisher', room: resource.room }
        : resource.type === 'whep-room'
          ? { role: 'viewer', room: resource.room }
          : { role: 'viewer', path: resource.camera };
    const header = request.headers.authorization;
    const carried = carriedToken(header === undefined ? [] : [header], request.url ?? '', 'jwt');
    const verdict =
      carried.kind === 'malformed'
        ? ({ ok: false, reason: 'malformed' } as const)
        : gate.check(carried.kind === 'given' ? carried.token : undefined, access);
    if (verdict.ok) return;
    const status = failureStatus(verdict.reason);
    throw new WhipWhepError(
      status,
      `jwt_${verdict.reason}`,
      `edge token refused: ${verdict.reason.replaceAll('_', ' ')}`,
      status === 401 ? { 'www-authenticate': 'Bearer realm="streammesh"' } : {},
    );
  }

  async #start(
    resource: Resource,
    id: string,
    offer: ReturnType<typeof parseWebrtcSdp>,
    source: string,
  ): Promise<StartedSession> {
    const context = {
      rooms: this.#options.rooms,
      viewerRouters: this.#viewerRouters,
      rtc: this.#options.rtc,
      connectTimeoutMs: this.#connectTimeoutMs,
      log: this.#log,
      budget: this.#budget,
      source,
    };
    switch (resource.type) {
      case 'whip':
        return startWhipSession(context, id, resource.room, offer);
      case 'whep-room': {
        const source = await this.#roomSource(resource.room, resource.peer, context.source);
        return startWhepSession(context, id, source, offer, {
          room: resource.room,
          ...(resource.peer === undefined ? {} : { peer: resource.peer }),
        });
      }
      case 'whep-camera': {
        const source = await this.#cameraSource(resource.camera);
        return startWhepSession(context, id, source, offer, { camera: resource.camera });
      }
      case 'session':
        throw notAllowed('POST', 'PATCH, DELETE');
    }
  }

  /**
   * A room's producers as a WHEP source: one peer's (the given one, or the
   * peer of the room's first producer), so audio and video belong together.
   * A peer on another signaling node is watched through this node's copy of
   * its producers (signaling/CASCADE.md); a room not held here is held for
   * the viewer (#cascadedSource).
   */
  async #roomSource(
    room: string,
    peer: string | undefined,
    client: string,
  ): Promise<WatchableSource> {
    let router: types.Router | undefined;
    try {
      router = await this.#options.rooms.router(room);
    } catch {
      router = undefined;
    }
    if (router === undefined || router.closed) return this.#cascadedSource(room, peer, client);
    return this.#producersOf(room, peer, router, () => undefined);
  }

  /**
   * A room not held here but by other nodes (it has a home): the viewer
   * holds it here as a member no one is shown, so the room is cascaded to
   * this node (its join waits for the other nodes' rosters), and leaves with
   * the session. No home: no such room anywhere.
   */
  async #cascadedSource(
    room: string,
    peer: string | undefined,
    client: string,
  ): Promise<WatchableSource> {
    const { rooms } = this.#options;
    if (rooms.span === undefined || rooms.directory?.homeOf(room) === undefined) {
      throw new WhipWhepError(404, 'no_room', `no room ${room}`);
    }
    const viewer: RoomMember = {
      peer: `whep-${randomBytes(6).toString('hex')}`,
      displayName: undefined,
      hidden: true,
      notify: () => undefined,
      dropped: () => undefined,
    };
    let router: types.Router;
    try {
      router = await rooms.join(room, viewer, client, { awaitRemote: true });
    } catch (error) {
      if (error instanceof RoomError && error.code === 'limit_exceeded') {
        throw new WhipWhepError(503, 'room_full', error.message);
      }
      throw error;
    }
    const leave = (): void => {
      rooms.leave(room, viewer);
    };
    try {
      return await this.#producersOf(room, peer, router, leave);
    } catch (error) {
      leave();
      throw error;
    }
  }

  async #producersOf(
    room: string,
    peer: string | undefined,
    router: types.Router,
    release: () => void,
  ): Promise<WatchableSource> {
    // Producers of the room's members on other nodes are piped in first (the cascade).
    const { rooms } = this.#options;
    const infos = rooms.producerInfos(room);
    const sender = peer ?? infos[0]?.peer;
    const producers = (
      await Promise.all(
        infos
          .filter((info) => info.peer === sender)
          .map((info) => rooms.consumable(room, info.producerId).catch(() => undefined)),
      )
    ).filter((producer): producer is types.Producer => producer !== undefined);
    if (producers.length === 0) {
      throw new WhipWhepError(
        404,
        'no_producers',
        peer === undefined
          ? `nothing is sent in room ${room}`
          : `${peer} sends nothing in room ${room}`,
      );
    }
    return { router, producers, release };
  }

  async #cameraSource(camera: string): Promise<WatchableSource> {
    const cameras = this.#options.cameras;
    if (cameras === undefined) throw new WhipWhepError(404, 'no_camera', 'no cameras on this node');
    let source: WatchableSource | undefined;
    try {
      source = await cameras.acquire(camera);
    } catch (error) {
      // The proxy is full (453: its proxy.maxStreams or this node's sessions
      // per source; 503: its request rate): the viewer may try again later.
      // Anything else is the camera's or the proxy's failure.
      const full =
        error instanceof CameraStatusError && (error.status === 453 || error.status === 503);
      throw new WhipWhepError(
        full ? 503 : 502,
        'camera_unavailable',
        `camera ${camera} cannot be pulled: ${errorMessage(error)}`,
        full ? { 'retry-after': String(CAMERA_FULL_RETRY_AFTER_SEC) } : {},
      );
    }
    if (source === undefined) throw new WhipWhepError(404, 'no_camera', `no camera ${camera}`);
    return source;
  }

  async #patch(
    session: WhipWhepSession,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    requireContentType(request, SDPFRAG_TYPE, 'accept-patch');
    const body = await readSdpBody(request);
    let fragment: SdpFragment;
    try {
      fragment = parseSdpFragment(body);
    } catch (error) {
      if (error instanceof SdpError) {
        throw new WhipWhepError(400, 'bad_fragment', `${error.code}: ${error.message}`);
      }
      throw error;
    }
    const result = await session.patch(fragment, request.headers['if-match']);
    if (result.status === 204) {
      response.writeHead(204, CORS_HEADERS).end();
      return;
    }
    response
      .writeHead(200, { ...CORS_HEADERS, 'content-type': SDPFRAG_TYPE, etag: result.etag })
      .end(result.fragment);
  }

  #count(endpoint: Endpoint): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.endpoint === endpoint) count += 1;
    return count;
  }

  #location(path: string): string {
    const base = this.#options.publicUrl;
    return base === undefined ? path : `${base.replace(/\/+$/, '')}${path}`;
  }

  /** What a client is told: its own mistakes as 4xx, anything else a logged 500. */
  #asRefusal(error: unknown, endpoint: Endpoint, request: IncomingMessage): WhipWhepError {
    if (error instanceof WhipWhepError) return error;
    if (error instanceof OverBudgetError) return overBudget(error);
    if (error instanceof SdpError) {
      return new WhipWhepError(400, 'bad_sdp', `${error.code}: ${error.message}`);
    }
    // mediasoup's refusals of parameters taken from the client's SDP.
    if (
      error instanceof TypeError ||
      (error instanceof Error && error.name === 'UnsupportedError')
    ) {
      return new WhipWhepError(400, 'bad_sdp', `the offer cannot be used: ${error.message}`);
    }
    this.#log.error(
      // Without the query: it may hold an edge token (?jwt=), a secret.
      { err: error, endpoint, method: request.method, url: (request.url ?? '').split('?')[0] },
      'WHIP/WHEP request failed',
    );
    return new WhipWhepError(500, 'internal', 'internal error');
  }
}

/**
 * A spent budget: 429 when this client holds its share, 503 when the node is
 * full (the session cap keeps its reason, too_many_sessions; no port left is
 * no_ports); the client may retry after a few seconds either way.
 */
function overBudget(error: OverBudgetError): WhipWhepError {
  const retry = { 'retry-after': '5' };
  if (error.reason === 'sessions_total') {
    return new WhipWhepError(503, 'too_many_sessions', error.message, retry);
  }
  if (error.reason === 'ports_exhausted')
    return new WhipWhepError(503, 'no_ports', error.message, retry);
  return new WhipWhepError(
    error.scope === 'per_source' ? 429 : 503,
    'over_budget',
    error.message,
    retry,
  );
}

function parseResource(endpoint: Endpoint, path: string): Resource {
  // path starts with /<endpoint>/ (the route's prefix).
  const rest = path.slice(endpoint.length + 2).split('/');
  const [first, second, third] = rest;
  if (
    first === 'session' &&
    rest.length === 2 &&
    second !== undefined &&
    /^[0-9a-f]{32}$/.test(second)
  ) {
    return { type: 'session', id: second };
  }
  if (first === 'session')
    throw new WhipWhepError(404, 'unknown_session', `no ${endpoint} session there`);
  if (endpoint === 'whip' && rest.length === 1 && first !== undefined && first !== '') {
    return { type: 'whip', room: name(first, 'room') };
  }
  if (endpoint === 'whep' && first === 'rooms' && second !== undefined && rest.length <= 3) {
    return {
      type: 'whep-room',
      room: name(second, 'room'),
      peer: third === undefined ? undefined : name(third, 'peer'),
    };
  }
  if (
    endpoint === 'whep' &&
    rest.length === 1 &&
    first !== undefined &&
    first !== '' &&
    first !== 'rooms'
  ) {
    return { type: 'whep-camera', camera: name(first, 'camera') };
  }
  throw new WhipWhepError(
    404,
    'not_found',
    endpoint === 'whip'
      ? 'POST to /whip/<room>'
      : 'POST to /whep/rooms/<room>[/<peer>] or /whep/<camera>',
  );
}

function name(text: string, what: string): string {
  if (NAME.test(text)) return text;
  throw new WhipWhepError(
    400,
    'bad_name',
    `a ${what} name is 1-64 letters, digits and . _ ~ -, starting with a letter or digit`,
  );
}

function notAllowed(method: string, allowed: string): WhipWhepError {
  return new WhipWhepError(405, 'method', `${method} is not allowed here; use ${allowed}`, {
    allow: `OPTIONS, ${allowed}`,
  });
}
