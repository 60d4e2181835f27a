/**
 * WHIP ingest (RFC 9725): an offer POSTed to /whip/<room> joins the room as
 * a member named whip-<session> and publishes what it sends, one audio and
 * one video Producer at most, through Rooms.addProducer: WebSocket peers of
 * the room get newProducer and consume it like any other. The session's
 * end closes the transport (and so its Producers: producerClosed) and leaves
 * the room.
 */
import { randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import type { Logger } from '../../src/shared/log.js';
import {
  SdpError,
  answerSetup,
  buildAnswer,
  dtlsParametersFromSdp,
  rtpParametersFromMedia,
  type ParsedSdp,
  type ReceivePlan,
} from '../sdp/index.js';
import { RoomError, type RoomMember, type Rooms, type WebRtcBudget } from '../server/index.js';
import { createWebRtcTransport, type RtcSettings } from '../sfu/index.js';
import { WhipWhepError } from './http.js';
import { WhipWhepSession } from './whip-whep-session.js';

export interface WhipContext {
  readonly rooms: Rooms;
  readonly rtc: RtcSettings;
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  /** The room (if this creates it) and the transport are charged to `source` in it. */
  readonly budget: WebRtcBudget;
  /** The client's address. */
  readonly source: string;
}

export interface StartedSession {
  readonly session: WhipWhepSession;
  readonly answer: string;
}

export async function startWhipSession(
  context: WhipContext,
  id: string,
  room: string,
  offer: ParsedSdp,
): Promise<StartedSession> {
  const log = context.log.child({ endpoint: 'whip', session: id, room });
  const sending = senders(offer);
  if (sending.length === 0) {
    throw new WhipWhepError(
      400,
      'bad_sdp',
      'the offer sends no audio or video (sendonly/sendrecv)',
    );
  }
  // Set once the transport exists; the room may be lost before that.
  const current: { session?: WhipWhepSession } = {};
  const member: RoomMember = {
    // Not derived from the session id: room members see peer names, and the
    // session URL is what lets its holder PATCH and DELETE.
    peer: `whip-${randomBytes(6).toString('hex')}`,
    displayName: 'WHIP',
    notify: () => undefined,
    dropped: () => current.session?.close('room lost with its worker'),
  };
  let router: types.Router;
  try {
    router = await context.rooms.join(room, member, context.source);
  } catch (error) {
    if (error instanceof RoomError && error.code === 'limit_exceeded') {
      throw new WhipWhepError(503, 'room_full', error.message);
    }
    throw error;
  }
  let transport: types.WebRtcTransport;
  try {
    transport = await context.budget.transport(context.source, () =>
      createWebRtcTransport(router, context.rtc, {
        whip: id,
        room,
        peer: member.peer,
      }),
    );
  } catch (error) {
    context.rooms.leave(room, member);
    throw error;
  }
  const session = new WhipWhepSession({
    id,
    endpoint: 'whip',
    transport,
    offer,
    connectTimeoutMs: context.connectTimeoutMs,
    log,
  });
  current.session = session;
  session.defer(() => {
    context.rooms.leave(room, member);
  });
  try {
    const plans = await produceAll(transport, sending, router.rtpCapabilities, id);
    await transport.connect({
      dtlsParameters: dtlsParametersFromSdp(offer, answerSetup(offer.setup)),
    });
    if (session.closed) {
      throw new WhipWhepError(503, 'room_closed', 'the room closed meanwhile; try again');
    }
    for (const { producer } of plans) context.rooms.addProducer(room, member, producer);
    session.accept(plans.map(({ plan }) => plan.mid));
    const answer = buildAnswer(
      offer,
      transport,
      plans.map(({ plan }) => plan),
    );
    log.info(
      { peer: member.peer, producers: plans.map(({ producer }) => producer.kind) },
      'WHIP session started',
    );
    return { session, answer };
  } catch (error) {
    session.close('setup failed');
    throw error;
  }
}

/** The audio and video sections the client sends on: the first of each kind. */
function senders(offer: ParsedSdp): ParsedSdp['medias'] {
  const chosen = new Map<string, ParsedSdp['medias'][number]>();
  for (const media of offer.medias) {
    const sends = media.direction === 'sendonly' || media.direction === 'sendrecv';
    if ((media.kind === 'audio' || media.kind === 'video') && sends && !media.rejected) {
      if (!chosen.has(media.kind)) chosen.set(media.kind, media);
    }
  }
  return [...chosen.values()];
}

/**
 * A Producer per section the router has a codec for; sections without one
 * are left out of the answer (rejected). None at all is a 400 that names the
 * codecs on both sides.
 */
async function produceAll(
  transport: types.WebRtcTransport,
  sending: ParsedSdp['medias'],
  capabilities: types.RtpCapabilities,
  id: string,
): Promise<{ plan: ReceivePlan; producer: types.Producer }[]> {
  const produced: { plan: ReceivePlan; producer: types.Producer }[] = [];
  let firstRefusal: SdpError | undefined;
  for (const media of sending) {
    let rtpParameters: types.RtpParameters;
    try {
      rtpParameters = rtpParametersFromMedia(media, capabilities);
    } catch (error) {
      if (error instanceof SdpError && error.code === 'sdp_no_codec') {
        firstRefusal ??= error;
        continue;
      }
      throw error;
    }
    const kind = media.kind as types.MediaKind;
    const producer = await transport.produce({ kind, rtpParameters, appData: { whip: id } });
    produced.push({
      plan: { mid: media.mid ?? '', kind, direction: 'recvonly', rtpParameters },
      producer,
    });
  }
  if (produced.length === 0) {
    throw new WhipWhepError(400, 'no_codec', firstRefusal?.message ?? 'no media to receive');
  }
  return produced;
}
