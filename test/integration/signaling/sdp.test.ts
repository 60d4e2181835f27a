/**
 * The SDP <-> mediasoup module against descriptions real stacks wrote
 * (Chromium 156 and werift 0.24 offers, test/fixtures/sdp) and a real
 * mediasoup Router: parameters it derives are accepted by produce() and
 * consume(), answers and offers it writes parse back and are accepted by
 * werift, and no input, however mangled, gets anything out of it but an
 * SdpError.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createWorker, type types } from 'mediasoup';
import { RTCPeerConnection } from 'werift';
import { roomMediaCodecs } from '../../../signaling/server/index.js';
import {
  MAX_SDP_BYTES,
  SdpError,
  matchingPayloadTypes,
  routerCodecForMedia,
  answerSetup,
  buildAnswer,
  buildOffer,
  buildSdpFragment,
  dtlsParametersFromSdp,
  h264Profile,
  parseWebrtcSdp,
  parseSdpFragment,
  rtpCapabilitiesFromMedias,
  rtpParametersFromMedia,
  type MediaPlan,
  type ParsedSdp,
  type SdpErrorCode,
  type WebrtcSdpMedia,
} from '../../../signaling/sdp/index.js';
import { at } from '../../helpers/defined.js';
import { mulberry32 } from '../../helpers/peers/impaired-sender.js';
import { repoRoot } from '../../helpers/process.js';

const fixture = (name: string): string =>
  readFileSync(join(repoRoot, 'test', 'fixtures', 'sdp', `${name}.sdp`), 'utf8').replace(
    /\n/g,
    '\r\n',
  );
const chromeSend = fixture('chrome-send');
const chromeRecv = fixture('chrome-recv');
const chromeSimulcast = fixture('chrome-simulcast');
const weriftSend = fixture('werift-send');
const weriftRecv = fixture('werift-recv');

function media(description: ParsedSdp, mid: string): WebrtcSdpMedia {
  const found = description.medias.find((entry) => entry.mid === mid);
  assert.ok(found, `m-section ${mid}`);
  return found;
}

function sdpErrorCode(run: () => unknown): SdpErrorCode | 'none' {
  try {
    run();
    return 'none';
  } catch (error) {
    if (error instanceof SdpError) return error.code;
    throw error;
  }
}

/**
 * Until werift has gathered its candidates (bounded): a peer closed while it
 * gathers leaves its sockets open, and the test process would not exit.
 */
async function gathered(peer: RTCPeerConnection): Promise<void> {
  if (peer.iceGatheringState === 'complete') return;
  await peer.iceGatheringStateChange.watch((state) => state === 'complete', 5_000);
}

describe('SDP parsing', () => {
  it('reads a Chromium send offer: ICE, DTLS, BUNDLE, codecs, RTX, extensions, SSRCs', () => {
    const offer = parseWebrtcSdp(chromeSend);
    assert.deepEqual(offer.ice, { usernameFragment: 'A/ab', password: 'WVEWyOozFwnjCvRJuzNEEEST' });
    assert.equal(offer.setup, 'actpass');
    assert.equal(offer.iceLite, false);
    assert.deepEqual(offer.bundle, ['0', '1']);
    assert.equal(offer.fingerprints.length, 1);
    assert.equal(at(offer.fingerprints, 0).algorithm, 'sha-256');
    assert.match(at(offer.fingerprints, 0).value, /^03:3D:47:/);

    const audio = media(offer, '0');
    assert.deepEqual(
      [audio.kind, audio.direction, audio.rejected, audio.rtcpMux, audio.rtcpReducedSize],
      ['audio', 'sendonly', false, true, true],
    );
    assert.deepEqual(at(audio.codecs, 0), {
      payloadType: 111,
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      parameters: { minptime: 10, useinbandfec: 1 },
      rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
    });
    assert.deepEqual(
      audio.codecs.map((codec) => codec.payloadType),
      [111, 63, 9, 0, 8, 13, 110, 126],
      'the m= line order',
    );
    assert.deepEqual(audio.headerExtensions[0], {
      uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
      id: 1,
    });
    assert.deepEqual(audio.ssrcs, [{ ssrc: 2429210742, cname: 'nHeElY6ASrQdZpzt' }]);
    assert.equal(audio.cname, 'nHeElY6ASrQdZpzt');
    assert.deepEqual(audio.msid, {
      streamId: 'd839f323-6fa4-49f2-b7eb-d56425b0d832',
      trackId: 'd7e0cdfd-366f-4d32-a24c-1c29d3587c2a',
    });
    assert.equal(audio.candidates.length, 8);
    assert.deepEqual(
      [at(audio.candidates, 0).protocol, at(audio.candidates, 0).address],
      ['udp', '127.0.0.1'],
    );

    const video = media(offer, '1');
    const rtx = video.codecs.find((codec) => codec.payloadType === 97);
    assert.deepEqual(rtx?.parameters, { apt: 96 });
    const h264 = video.codecs.find((codec) => codec.payloadType === 108);
    assert.deepEqual(h264?.parameters, {
      'level-asymmetry-allowed': 1,
      'packetization-mode': 1,
      'profile-level-id': '42e01f',
    });
    assert.deepEqual(video.ssrcGroups, [{ semantics: 'FID', ssrcs: [2178967112, 2392064694] }]);
    assert.equal(video.simulcast, false);
  });

  it('reads a werift offer whose ICE ufrag and mids look like numbers as text', () => {
    const offer = parseWebrtcSdp(weriftSend);
    assert.equal(typeof offer.ice.usernameFragment, 'string');
    assert.match(offer.ice.usernameFragment, /^\d{4}$/);
    assert.deepEqual(
      offer.medias.map((entry) => [entry.mid, entry.kind, entry.direction]),
      [
        ['0', 'audio', 'sendonly'],
        ['1', 'video', 'sendonly'],
      ],
    );
    assert.equal(at(media(offer, '0').codecs, 0).mimeType, 'audio/OPUS');
  });

  it('reads rids and simulcast', () => {
    const offer = parseWebrtcSdp(chromeSimulcast);
    const video = at(offer.medias, 0);
    assert.equal(video.simulcast, true);
    assert.deepEqual(video.rids, [
      { id: 'h', direction: 'send' },
      { id: 'l', direction: 'send' },
    ]);
  });

  it('refuses bad descriptions with a typed error and a clear message', () => {
    const cases: [string, unknown, SdpErrorCode, RegExp][] = [
      ['empty', '', 'sdp_syntax', /empty/],
      ['not text', 42, 'sdp_syntax', /not text/],
      ['no v=0', chromeSend.replace('v=0\r\n', ''), 'sdp_syntax', /starts with the line v=0/],
      ['binary', '\u0000\u0001\u0002', 'sdp_syntax', /not an SDP line/],
      ['html', '<html><body>hi</body></html>', 'sdp_syntax', /not an SDP line/],
      [
        'no media',
        'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n',
        'sdp_no_media',
        /no m= line/,
      ],
      [
        'too large',
        `${chromeSend}a=x-pad:${'x'.repeat(MAX_SDP_BYTES)}\r\n`,
        'sdp_syntax',
        /larger than 65536 bytes/,
      ],
      ['no ICE', chromeSend.replace(/a=ice-(ufrag|pwd):.*\r\n/g, ''), 'sdp_bad_ice', /ice-ufrag/],
      [
        'short ice-pwd',
        chromeSend.replace(/a=ice-pwd:.*/g, 'a=ice-pwd:short'),
        'sdp_bad_ice',
        /22-256/,
      ],
      [
        'no fingerprint',
        chromeSend.replace(/a=fingerprint:.*\r\n/g, ''),
        'sdp_bad_dtls',
        /no a=fingerprint/,
      ],
      [
        'short fingerprint',
        chromeSend.replace(/a=fingerprint:sha-256 03:3D/g, 'a=fingerprint:sha-256 03'),
        'sdp_bad_dtls',
        /32 hex bytes/,
      ],
      [
        'unknown digest',
        chromeSend.replace(/a=fingerprint:sha-256/g, 'a=fingerprint:md5'),
        'sdp_bad_dtls',
        /algorithm "md5"/,
      ],
      [
        'bad setup',
        chromeSend.replace(/a=setup:actpass/g, 'a=setup:sideways'),
        'sdp_bad_dtls',
        /a=setup/,
      ],
      ['no mid', chromeSend.replace(/a=mid:1\r\n/, ''), 'sdp_bad_mid', /no a=mid/],
      ['same mid twice', chromeSend.replace(/a=mid:1/, 'a=mid:0'), 'sdp_bad_mid', /used by two/],
      ['bad port', chromeSend.replace('m=audio 57860', 'm=audio 99999'), 'sdp_syntax', /port/],
      [
        'payload type 300',
        chromeSend.replace('a=rtpmap:111 opus', 'a=rtpmap:300 opus'),
        'sdp_syntax',
        /payload type/,
      ],
      [
        'rtpmap without a rate',
        chromeSend.replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 opus'),
        'sdp_syntax',
        /rate/,
      ],
      [
        'every section rejected',
        chromeSend.replace('m=audio 57860', 'm=audio 0').replace('m=video 38490', 'm=video 0'),
        'sdp_no_media',
        /rejected/,
      ],
    ];
    for (const [name, input, code, message] of cases) {
      assert.throws(
        () => parseWebrtcSdp(input),
        (error: unknown) =>
          error instanceof SdpError && error.code === code && message.test(error.message),
        name,
      );
    }
  });

  it('reads trickle-ice-sdpfrag bodies (RFC 8840): candidates, end-of-candidates, new credentials', () => {
    const trickle = parseSdpFragment(
      [
        'a=group:BUNDLE 0 1',
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        'a=mid:0',
        'a=ice-ufrag:EsAw',
        'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1',
        'a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1',
        'a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2',
        'a=end-of-candidates',
        '',
      ].join('\r\n'),
    );
    assert.deepEqual(trickle.ice, {
      usernameFragment: 'EsAw',
      password: 'P2uYro0UCOQ4zxjKXaWCBui1',
    });
    assert.deepEqual(trickle.mids, ['0']);
    assert.equal(trickle.candidates.length, 2);
    assert.equal(trickle.endOfCandidates, true);
    const bare = parseSdpFragment('a=end-of-candidates\r\n');
    assert.deepEqual(
      [bare.ice, bare.candidates.length, bare.endOfCandidates],
      [undefined, 0, true],
    );
    for (const bad of ['', 'v=0\r\nm=audio 9 RTP/AVP 0\r\n', 'hello', 'a=ice-ufrag:EsAw\r\n']) {
      assert.throws(() => parseSdpFragment(bad), SdpError, JSON.stringify(bad));
    }
  });

  it('tells H.264 profiles apart the way mediasoup matches them', () => {
    assert.equal(h264Profile('42e01f'), 'constrained-baseline');
    assert.equal(h264Profile('4de01f'), 'constrained-baseline');
    assert.equal(h264Profile('42001f'), 'baseline');
    assert.equal(h264Profile('4d001f'), 'main');
    assert.equal(h264Profile('640c1f'), 'constrained-high');
    assert.equal(h264Profile(640032), 'high', 'a profile-level-id that reads as a number');
    assert.equal(h264Profile(undefined), 'constrained-baseline');
    assert.equal(h264Profile('zz'), undefined);
  });

  it('maps setup roles: the answer is passive to actpass, roles follow', () => {
    const offer = parseWebrtcSdp(chromeSend);
    assert.equal(answerSetup('actpass'), 'passive');
    assert.equal(answerSetup('active'), 'passive');
    assert.equal(answerSetup('passive'), 'active');
    assert.equal(dtlsParametersFromSdp(offer, 'passive').role, 'client');
    assert.equal(dtlsParametersFromSdp(offer, 'active').role, 'server');
    assert.equal(
      sdpErrorCode(() => dtlsParametersFromSdp(offer)),
      'sdp_bad_dtls',
    );
    const active = parseWebrtcSdp(chromeSend.replace(/a=setup:actpass/g, 'a=setup:active'));
    assert.equal(dtlsParametersFromSdp(active).role, 'client');
  });
});

describe('SDP and a mediasoup Router', () => {
  let worker: types.Worker;
  let router: types.Router;
  const peers: RTCPeerConnection[] = [];

  before(async () => {
    worker = await createWorker({ logLevel: 'none', rtcMinPort: 47100, rtcMaxPort: 47199 });
    router = await worker.createRouter({ mediaCodecs: [...roomMediaCodecs] });
  });

  after(async () => {
    await Promise.all(peers.map((peer) => peer.close()));
    worker.close();
  });

  const transport = (): Promise<types.WebRtcTransport> =>
    router.createWebRtcTransport({
      listenInfos: [
        { protocol: 'udp', ip: '127.0.0.1' },
        { protocol: 'tcp', ip: '127.0.0.1' },
      ],
    });

  /** Produces every sending m-section of `offer`; returns the recvonly plans. */
  async function produceAll(
    offer: ParsedSdp,
    on: types.WebRtcTransport,
  ): Promise<{ plans: MediaPlan[]; producers: types.Producer[] }> {
    const plans: MediaPlan[] = [];
    const producers: types.Producer[] = [];
    for (const entry of offer.medias) {
      const kind = entry.kind as types.MediaKind;
      const rtpParameters = rtpParametersFromMedia(entry, router.rtpCapabilities);
      const producer = await on.produce({ kind, rtpParameters });
      producers.push(producer);
      plans.push({ mid: entry.mid ?? '', kind, direction: 'recvonly', rtpParameters });
    }
    return { plans, producers };
  }

  /**
   * A Consumer of `producer` that sends with the payload types `section`
   * offers: on a Router made with the section's payload types, the producer
   * piped into it (what WHEP does).
   */
  async function consumeAsOffered(
    section: WebrtcSdpMedia,
    producer: types.Producer,
  ): Promise<{ consumer: types.Consumer; transport: types.WebRtcTransport; close: () => void }> {
    const codec = routerCodecForMedia(section, at(producer.rtpParameters.codecs, 0));
    assert.ok(codec, `m-section ${section.mid ?? ''} offers ${producer.kind}`);
    const viewerRouter = await worker.createRouter({ mediaCodecs: [codec] });
    // A second Producer with the same id in one worker is refused: a new id.
    const { pipeProducer } = await router.pipeToRouter({
      producerId: producer.id,
      router: viewerRouter,
      keepId: false,
    });
    assert.ok(pipeProducer);
    const on = await viewerRouter.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }],
    });
    const rtpCapabilities = matchingPayloadTypes(
      rtpCapabilitiesFromMedias([section]),
      viewerRouter.rtpCapabilities,
    );
    const consumer = await on.consume({ producerId: pipeProducer.id, rtpCapabilities });
    return { consumer, transport: on, close: () => viewerRouter.close() };
  }

  it('produces from a Chromium offer: first supported codec, its RTX and SSRCs, known extensions', async () => {
    const offer = parseWebrtcSdp(chromeSend);
    const video = rtpParametersFromMedia(media(offer, '1'), router.rtpCapabilities);
    assert.deepEqual(
      video.codecs.map((codec) => [codec.mimeType, codec.payloadType]),
      [
        ['video/VP8', 96],
        ['video/rtx', 97],
      ],
    );
    assert.deepEqual(video.encodings, [{ ssrc: 2178967112, rtx: { ssrc: 2392064694 } }]);
    assert.deepEqual(video.rtcp, { cname: 'nHeElY6ASrQdZpzt', reducedSize: true });
    assert.equal(video.mid, '1');
    const uris = (video.headerExtensions ?? []).map((extension) => extension.uri);
    assert.ok(uris.includes('urn:ietf:params:rtp-hdrext:sdes:mid'));
    assert.ok(
      !uris.some((uri) => uri.includes('video-timing') || uri.includes('color-space')),
      'extensions the router does not know are left out',
    );
    // An H.264-first offer gets the router's profile (42e01f), not Chromium's first H.264 (42001f).
    const h264First = parseWebrtcSdp(chromeSend.replace(/(m=video \d+ \S+) 96 97 /, '$1 '));
    const h264 = rtpParametersFromMedia(media(h264First, '1'), router.rtpCapabilities);
    assert.deepEqual(
      h264.codecs.map((codec) => [codec.mimeType, codec.payloadType]),
      [
        ['video/H264', 108],
        ['video/rtx', 109],
      ],
    );

    const on = await transport();
    const { plans, producers } = await produceAll(offer, on);
    assert.deepEqual(
      producers.map((producer) => producer.kind),
      ['audio', 'video'],
    );
    await on.connect({ dtlsParameters: dtlsParametersFromSdp(offer, answerSetup(offer.setup)) });
    const answer = parseWebrtcSdp(buildAnswer(offer, on, plans));
    assert.equal(answer.iceLite, true);
    assert.equal(answer.setup, 'passive');
    assert.deepEqual(answer.bundle, ['0', '1']);
    assert.equal(answer.ice.usernameFragment, on.iceParameters.usernameFragment);
    assert.deepEqual(
      answer.medias.map((entry) => [entry.mid, entry.direction, entry.codecs.length]),
      [
        ['0', 'recvonly', 1],
        ['1', 'recvonly', 2],
      ],
    );
    assert.deepEqual(
      at(answer.medias, 0).candidates.map((candidate) => candidate.protocol),
      ['udp', 'tcp'],
    );
    on.close();
  });

  it('refuses simulcast and offers without a codec or SSRC the SFU can use', () => {
    const simulcast = parseWebrtcSdp(chromeSimulcast);
    assert.equal(
      sdpErrorCode(() => rtpParametersFromMedia(at(simulcast.medias, 0), router.rtpCapabilities)),
      'sdp_unsupported',
    );
    const onlyVp9 = parseWebrtcSdp(
      chromeSend
        .replace(/(m=video \d+ \S+) [\d ]+/, '$1 98 99')
        .replace(/(m=audio \d+ \S+) [\d ]+/, '$1 0'),
    );
    for (const entry of onlyVp9.medias) {
      assert.throws(
        () => rtpParametersFromMedia(entry, router.rtpCapabilities),
        (error: unknown) =>
          error instanceof SdpError &&
          error.code === 'sdp_no_codec' &&
          /the SFU takes/.test(error.message),
      );
    }
    const noSsrc = parseWebrtcSdp(chromeSend.replace(/a=ssrc(-group)?:.*\r\n/g, ''));
    assert.equal(
      sdpErrorCode(() => rtpParametersFromMedia(media(noSsrc, '0'), router.rtpCapabilities)),
      'sdp_no_ssrc',
    );
    const recv = parseWebrtcSdp(chromeRecv);
    assert.equal(
      sdpErrorCode(() => rtpParametersFromMedia(media(recv, '0'), router.rtpCapabilities)),
      'sdp_no_media',
    );
  });

  it('consumes with the payload types of a Chromium receive offer; the answer carries the SSRCs', async () => {
    const sender = await transport();
    const { producers } = await produceAll(parseWebrtcSdp(chromeSend), sender);
    const offer = parseWebrtcSdp(chromeRecv);
    // A Consumer on the room's Router sends with the Router's payload types, not the offer's.
    const direct = await transport();
    const directConsumer = await direct.consume({
      producerId: at(producers, 1).id,
      rtpCapabilities: rtpCapabilitiesFromMedias([media(offer, '1')]),
    });
    assert.notEqual(at(directConsumer.rtpParameters.codecs, 0).payloadType, 96);
    assert.throws(
      () =>
        buildAnswer(offer, direct, [
          {
            mid: '1',
            kind: 'video',
            direction: 'sendonly',
            rtpParameters: directConsumer.rtpParameters,
            streamId: 's',
            trackId: 't',
          },
        ]),
      (error: unknown) => error instanceof SdpError && /is not the offer's/.test(error.message),
    );
    direct.close();

    const plans: MediaPlan[] = [];
    const viewers: Awaited<ReturnType<typeof consumeAsOffered>>[] = [];
    for (const [index, producer] of producers.entries()) {
      const section = at(offer.medias, index);
      const viewer = await consumeAsOffered(section, producer);
      viewers.push(viewer);
      const { rtpParameters } = viewer.consumer;
      const offered = section.codecs.find(
        (codec) => codec.payloadType === at(rtpParameters.codecs, 0).payloadType,
      );
      assert.equal(
        offered?.mimeType.toLowerCase(),
        at(rtpParameters.codecs, 0).mimeType.toLowerCase(),
      );
      plans.push({
        mid: section.mid ?? '',
        kind: viewer.consumer.kind,
        direction: 'sendonly',
        rtpParameters,
        streamId: 'stream',
        trackId: `${viewer.consumer.kind}-track`,
      });
    }
    const answer = parseWebrtcSdp(buildAnswer(offer, at(viewers, 1).transport, plans));
    const video = media(answer, '1');
    assert.equal(video.direction, 'sendonly');
    assert.deepEqual(
      video.codecs.map((codec) => [codec.payloadType, codec.mimeType]),
      [[96, 'video/VP8']],
      "the offer's VP8 payload type; the Router's own RTX payload type is left out",
    );
    const encoding = at(at(viewers, 1).consumer.rtpParameters.encodings ?? [], 0);
    assert.deepEqual(
      video.ssrcs.map((entry) => entry.ssrc),
      [encoding.ssrc],
    );
    assert.deepEqual(video.msid, { streamId: 'stream', trackId: 'video-track' });
    assert.ok(video.cname !== undefined);
    assert.deepEqual(at(media(answer, '0').codecs, 0).payloadType, 111);
    sender.close();
    for (const viewer of viewers) viewer.close();
  });

  it('rejects unplanned m-sections (port 0, out of BUNDLE) and keeps their order', async () => {
    const withData = `${chromeSend}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n`;
    const offer = parseWebrtcSdp(withData);
    const on = await transport();
    const audio = rtpParametersFromMedia(media(offer, '0'), router.rtpCapabilities);
    const answer = parseWebrtcSdp(
      buildAnswer(offer, on, [
        { mid: '0', kind: 'audio', direction: 'recvonly', rtpParameters: audio },
      ]),
    );
    assert.deepEqual(
      answer.medias.map((entry) => [entry.kind, entry.mid, entry.rejected]),
      [
        ['audio', '0', false],
        ['video', '1', true],
        ['application', '2', true],
      ],
    );
    assert.deepEqual(answer.bundle, ['0']);
    on.close();
  });

  it('werift accepts the answers and the offers written here', async () => {
    const newPeer = (): RTCPeerConnection => {
      // max-bundle: with werift's default, each m-section gathers its own
      // sockets, and those of the sections bundled away stay open after close().
      const peer = new RTCPeerConnection({
        iceAdditionalHostAddresses: ['127.0.0.1'],
        iceUseIpv6: false,
        bundlePolicy: 'max-bundle',
      });
      peers.push(peer);
      return peer;
    };
    // A werift sender: its offer produced, the recvonly answer applied.
    const sender = newPeer();
    sender.addTransceiver('audio', { direction: 'sendonly' });
    sender.addTransceiver('video', { direction: 'sendonly' });
    await sender.setLocalDescription(await sender.createOffer());
    await gathered(sender);
    const sendOffer = parseWebrtcSdp(sender.localDescription?.sdp);
    const sending = await transport();
    const { plans, producers } = await produceAll(sendOffer, sending);
    await sender.setRemoteDescription({
      type: 'answer',
      sdp: buildAnswer(sendOffer, sending, plans),
    });
    assert.deepEqual(
      sender.getTransceivers().map((transceiver) => transceiver.currentDirection),
      ['sendonly', 'sendonly'],
    );

    // A werift receiver offering recvonly: the sendonly answer applied.
    const receiver = newPeer();
    receiver.addTransceiver('video', { direction: 'recvonly' });
    await receiver.setLocalDescription(await receiver.createOffer());
    await gathered(receiver);
    const recvOffer = parseWebrtcSdp(receiver.localDescription?.sdp);
    const videoProducer = at(producers, 1);
    const viewer = await consumeAsOffered(at(recvOffer.medias, 0), videoProducer);
    const { consumer, transport: receiving } = viewer;
    const sendPlan: MediaPlan = {
      mid: at(recvOffer.medias, 0).mid ?? '',
      kind: 'video',
      direction: 'sendonly',
      rtpParameters: consumer.rtpParameters,
      streamId: 's',
      trackId: 't',
    };
    await receiver.setRemoteDescription({
      type: 'answer',
      sdp: buildAnswer(recvOffer, receiving, [sendPlan]),
    });
    assert.equal(at(receiver.getTransceivers(), 0).currentDirection, 'recvonly');

    // The SFU offering a consumer (client-side use): werift answers, the role follows.
    const answerer = newPeer();
    const offering = await transport();
    const offered = await offering.consume({
      producerId: videoProducer.id,
      rtpCapabilities: rtpCapabilitiesFromMedias(parseWebrtcSdp(weriftRecv).medias),
    });
    await answerer.setRemoteDescription({
      type: 'offer',
      sdp: buildOffer(offering, [{ ...sendPlan, mid: '0', rtpParameters: offered.rtpParameters }]),
    });
    await answerer.setLocalDescription(await answerer.createAnswer());
    await gathered(answerer);
    const weriftAnswer = parseWebrtcSdp(answerer.localDescription?.sdp);
    assert.equal(at(weriftAnswer.medias, 0).direction, 'recvonly');
    const dtls = dtlsParametersFromSdp(weriftAnswer, 'actpass');
    assert.ok(dtls.role === 'client' || dtls.role === 'server');
    await offering.connect({ dtlsParameters: dtls });
    await Promise.all([sender, receiver, answerer].map((peer) => peer.close()));
    for (const on of [sending, offering]) on.close();
    viewer.close();
  });

  it('writes the ICE restart fragment that parses back with the new credentials', async () => {
    const on = await transport();
    const before = on.iceParameters.usernameFragment;
    const iceParameters = await on.restartIce();
    const text = buildSdpFragment(
      { iceParameters, iceCandidates: on.iceCandidates },
      { kind: 'video', protocol: 'UDP/TLS/RTP/SAVPF', formats: ['96'], mid: '1' },
      ['1'],
    );
    const fragment = parseSdpFragment(text);
    assert.equal(fragment.ice?.usernameFragment, iceParameters.usernameFragment);
    assert.notEqual(fragment.ice.usernameFragment, before);
    assert.deepEqual(fragment.mids, ['1']);
    assert.equal(fragment.candidates.length, 2);
    on.close();
  });

  it('fuzz: 6000 mutated offers give parameters mediasoup accepts or an SdpError, nothing else', async () => {
    const next = mulberry32(0x5eed);
    const pick = <T>(items: readonly T[]): T => at(items, Math.floor(next() * items.length));
    const seeds = [chromeSend, chromeRecv, chromeSimulcast, weriftSend, weriftRecv];
    const oddValues = [
      '',
      '-1',
      '0',
      '4294967296',
      '1e309',
      'NaN',
      '*',
      ':::',
      '\u00e9',
      ' ',
      '9'.repeat(40),
    ];
    const mutate = (text: string): string => {
      const lines = text.split('\r\n');
      const rounds = 1 + Math.floor(next() * 4);
      for (let round = 0; round < rounds; round += 1) {
        const index = Math.floor(next() * lines.length);
        const line = lines[index] ?? '';
        switch (Math.floor(next() * 8)) {
          case 0:
            lines.splice(index, 1);
            break;
          case 1:
            lines.splice(index, 0, pick(lines));
            break;
          case 2: {
            const cut = Math.floor(next() * line.length);
            lines[index] = line.slice(0, cut);
            break;
          }
          case 3: {
            // Replace one token of the line with an odd value.
            const tokens = line.split(/([ :/=;])/);
            tokens[Math.floor(next() * tokens.length)] = pick(oddValues);
            lines[index] = tokens.join('');
            break;
          }
          case 4: {
            const at = Math.floor(next() * line.length);
            const code = Math.floor(next() * 256);
            lines[index] = line.slice(0, at) + String.fromCharCode(code) + line.slice(at + 1);
            break;
          }
          case 5:
            return text.slice(0, Math.floor(next() * text.length));
          case 6:
            lines[index] = line.replace(/\d+/g, () => pick(oddValues));
            break;
          default: {
            const other = pick(lines);
            lines[index] = lines[0] ?? '';
            lines[0] = other;
          }
        }
      }
      return lines.join('\r\n');
    };
    const on = await transport();
    let parsed = 0;
    let produced = 0;
    for (let round = 0; round < 6000; round += 1) {
      const input = mutate(pick(seeds));
      const outcome = (run: () => unknown): unknown => {
        try {
          return run();
        } catch (error) {
          if (error instanceof SdpError) return undefined;
          assert.fail(`round ${round}: ${String(error)}\n${input}`);
        }
      };
      const offer = outcome(() => parseWebrtcSdp(input)) as ParsedSdp | undefined;
      if (offer === undefined) continue;
      parsed += 1;
      outcome(() => rtpCapabilitiesFromMedias(offer.medias));
      outcome(() => dtlsParametersFromSdp(offer, 'passive'));
      outcome(() => parseWebrtcSdp(buildAnswer(offer, on, [])));
      for (const entry of offer.medias) {
        const parameters = outcome(() => rtpParametersFromMedia(entry, router.rtpCapabilities)) as
          types.RtpParameters | undefined;
        // Every set of parameters derived here must be one mediasoup takes (a
        // refusal there would be a 500 for a WHIP client); a sample suffices.
        if (parameters === undefined || produced >= 400) continue;
        try {
          const producer = await on.produce({
            kind: entry.kind as types.MediaKind,
            rtpParameters: parameters,
          });
          producer.close();
          produced += 1;
        } catch (error) {
          // Two mutated sections may claim one SSRC: a duplicate for mediasoup, not for SDP.
          if (/ssrc already exists/i.test(String(error))) continue;
          assert.fail(
            `round ${round}: mediasoup refused ${JSON.stringify(parameters)}: ${String(error)}`,
          );
        }
      }
    }
    assert.ok(parsed > 500, `only ${parsed} mutated offers parsed: the mutations are too coarse`);
    assert.ok(produced > 100, `only ${produced} produced`);
    on.close();
  });
});
