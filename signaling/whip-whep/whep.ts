/**
 * WHEP egress: a viewer's offer gets Consumers of a source's producers (a
 * room's, or a camera's through CameraSources), at most one audio and one
 * video, and a sendonly answer with their SSRCs.
 *
 * A Consumer sends with its Router's payload types, and a WHEP answer must
 * use the viewer's (JSEP: the answer cannot renumber what the offerer will
 * receive). So sessions consume on a Router made with the source's codecs
 * at the viewer's payload types, the source producers piped into it, shared
 * by the viewers whose offers agree (viewer-routers.ts). Ending the session
 * closes its transport, gives back its lease on that Router, and releases
 * the source exactly once.
 *
 * Consumers start paused and are resumed, with a key frame asked of the
 * source, once DTLS is connected: the viewer's first packets are a picture
 * it can decode.
 */
import type { types } from 'mediasoup';
import type { Logger } from '../../src/shared/log.js';
import {
  answerSetup,
  buildAnswer,
  dtlsParametersFromSdp,
  isMediaCodec,
  matchingPayloadTypes,
  routerCodecForMedia,
  rtpCapabilitiesFromMedias,
  type ParsedSdp,
  type WebrtcSdpMedia,
  type SendPlan,
} from '../sdp/index.js';
import type { WebRtcBudget } from '../server/index.js';
import { createWebRtcTransport, type RtcSettings, type WatchableSource } from '../sfu/index.js';
import { WhipWhepError } from './http.js';
import { WhipWhepSession } from './whip-whep-session.js';
import type { ViewerRouterLease, ViewerRouters } from './viewer-routers.js';
import type { StartedSession } from './whip.js';

export interface WhepContext {
  readonly viewerRouters: ViewerRouters;
  readonly rtc: RtcSettings;
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  /** The transport is charged to `source` in it. */
  readonly budget: WebRtcBudget;
  /** The client's address. */
  readonly source: string;
}

/** A viewer section and what it will get. */
interface Pairing {
  readonly media: WebrtcSdpMedia & { readonly mid: string };
  readonly producer: types.Producer;
  readonly codec: types.RouterRtpCodecCapability;
}

/** The msid stream of every track of a session: one stream, so audio and video play in sync. */
const STREAM_ID = 'streammesh';

/**
 * Starts a viewing session of `source`; `source.release()` is called exactly
 * once, when the session ends or when it fails to start.
 */
export async function startWhepSession(
  context: WhepContext,
  id: string,
  source: WatchableSource,
  offer: ParsedSdp,
  what: Readonly<Record<string, string>>,
): Promise<StartedSession> {
  const log = context.log.child({ endpoint: 'whep', session: id, ...what });
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    source.release();
  };
  let lease: ViewerRouterLease | undefined;
  let session: WhipWhepSession | undefined;
  try {
    const pairings = pair(offer, source.producers);
    lease = await context.viewerRouters.acquire(
      source.router,
      pairings.map((entry) => entry.codec),
      context.source,
    );
    const router = lease.router;
    const transport = await context.budget.transport(context.source, () =>
      createWebRtcTransport(router, context.rtc, {
        whep: id,
        // The viewer's name in the stats.
        peer: `whep-${id}`,
      }),
    );
    session = new WhipWhepSession({
      id,
      endpoint: 'whep',
      transport,
      offer,
      connectTimeoutMs: context.connectTimeoutMs,
      log,
    });
    const started = session;
    const held = lease;
    session.defer(release);
    session.defer(() => {
      held.release();
    });
    const onSourceClosed = (): void => {
      started.close('the source closed');
    };
    source.router.observer.once('close', onSourceClosed);
    session.defer(() => source.router.observer.off('close', onSourceClosed));

    const consumers = await consumeAll(held, transport, pairings, started);
    await transport.connect({
      dtlsParameters: dtlsParametersFromSdp(offer, answerSetup(offer.setup)),
    });
    started.onConnected(() => {
      for (const consumer of consumers) resumeWithKeyFrame(consumer, log);
    });
    const plans: SendPlan[] = consumers.map((consumer, index) => ({
      mid: pairings[index]?.media.mid ?? '',
      kind: consumer.kind,
      direction: 'sendonly',
      rtpParameters: consumer.rtpParameters,
      streamId: STREAM_ID,
      trackId: consumer.id,
    }));
    started.accept(plans.map((plan) => plan.mid));
    const answer = buildAnswer(offer, transport, plans);
    if (started.closed) throw new WhipWhepError(404, 'no_producers', 'the source ended meanwhile');
    log.info({ consumers: consumers.map((consumer) => consumer.kind) }, 'WHEP session started');
    return { session: started, answer };
  } catch (error) {
    if (session === undefined) {
      lease?.release();
      release();
    } else {
      session.close('setup failed');
    }
    throw error;
  }
}

/**
 * The viewer's receiving sections, first audio and first video, each with a
 * source producer of its kind whose codec it offers.
 */
function pair(offer: ParsedSdp, producers: readonly types.Producer[]): Pairing[] {
  const live = producers.filter((producer) => !producer.closed);
  if (live.length === 0)
    throw new WhipWhepError(404, 'no_producers', 'nothing is being sent there');
  const pairings: Pairing[] = [];
  const offered: string[] = [];
  for (const media of offer.medias) {
    const receives = media.direction === 'recvonly' || media.direction === 'sendrecv';
    const mid = media.mid;
    if (media.rejected || !receives || mid === undefined) continue;
    if (pairings.some((entry) => entry.media.kind === media.kind)) continue;
    offered.push(...media.codecs.filter(isMediaCodec).map((codec) => codec.mimeType));
    for (const producer of live.filter((candidate) => candidate.kind === media.kind)) {
      const sent = producer.rtpParameters.codecs.find(isMediaCodec);
      const codec = sent === undefined ? undefined : routerCodecForMedia(media, sent);
      // One Router cannot give one payload type to two codecs (a viewer
      // breaking BUNDLE's rule); the second section is turned down.
      const taken = pairings.some(
        (entry) => entry.codec.preferredPayloadType === codec?.preferredPayloadType,
      );
      if (codec !== undefined && !taken) {
        pairings.push({ media: { ...media, mid }, producer, codec });
        break;
      }
    }
  }
  if (pairings.length === 0) {
    const sent = live.map(
      (producer) => producer.rtpParameters.codecs[0]?.mimeType ?? producer.kind,
    );
    throw new WhipWhepError(
      400,
      'no_codec',
      `the offer receives ${[...new Set(offered)].join(', ') || 'no audio or video'}; the source sends ${[...new Set(sent)].join(', ')}`,
    );
  }
  return pairings;
}

async function consumeAll(
  lease: ViewerRouterLease,
  transport: types.WebRtcTransport,
  pairings: readonly Pairing[],
  session: WhipWhepSession,
): Promise<types.Consumer[]> {
  const consumers: types.Consumer[] = [];
  for (const { media, producer } of pairings) {
    let piped: types.Producer;
    try {
      piped = await lease.pipe(producer);
    } catch (error) {
      if (producer.closed) {
        throw new WhipWhepError(404, 'no_producers', 'the source stopped sending meanwhile');
      }
      throw error;
    }
    const consumer = await transport.consume({
      producerId: piped.id,
      rtpCapabilities: matchingPayloadTypes(
        rtpCapabilitiesFromMedias([media]),
        lease.router.rtpCapabilities,
      ),
      paused: true,
      appData: { whep: session.id, source: producer.id },
    });
    consumers.push(consumer);
    consumer.observer.once('close', () => {
      if (consumers.every((entry) => entry.closed)) session.close('the source stopped sending');
    });
  }
  return consumers;
}

function resumeWithKeyFrame(consumer: types.Consumer, log: Logger): void {
  consumer
    .resume()
    .then(() => (consumer.kind === 'video' ? consumer.requestKeyFrame() : undefined))
    .catch((error: unknown) => {
      // Closed meanwhile: the session is ending anyway.
      if (!consumer.closed) log.warn({ err: error, consumer: consumer.id }, 'resume failed');
    });
}
