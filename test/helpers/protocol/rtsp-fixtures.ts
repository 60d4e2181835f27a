/**
 * RTSP exchanges written by hand as they appear on the wire: ffmpeg (Lavf)
 * playing from a GStreamer rtsp-server over TCP, a Digest challenge, and a
 * camera that ends lines with bare LF.
 */
import { interleavedFrame } from '../../../src/protocol/rtsp/index.js';

const UA = 'User-Agent: Lavf60.16.100';
const URL = 'rtsp://127.0.0.1:8554/test';
const DATE = 'Date: Thu, 26 Nov 2026 11:52:52 GMT';
const SERVER = 'Server: GStreamer RTSP server';
const SESSION = 'UdWjKzVdq2ZhKr4y';

function crlf(...lines: string[]): string {
  return lines.map((line) => `${line}\r\n`).join('');
}

export const SDP = crlf(
  'v=0',
  'o=- 1188340656180883 1 IN IP4 127.0.0.1',
  's=Session streamed with GStreamer',
  'i=rtsp-server',
  't=0 0',
  'a=tool:GStreamer',
  'a=type:broadcast',
  'a=control:*',
  'a=range:npt=now-',
  'm=video 0 RTP/AVP 96',
  'c=IN IP4 0.0.0.0',
  'b=AS:2097',
  'a=rtpmap:96 H264/90000',
  'a=framerate:30',
  'a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets=Z0LAH9kAUAW7ARAAAAMAEAAAAwPA8YMkgA==,aMuMsg==',
  'a=control:stream=0',
  'a=ts-refclk:local',
  'a=mediaclk:sender',
);

/** What ffmpeg sends: `ffmpeg -rtsp_transport tcp -i rtsp://127.0.0.1:8554/test`. */
export const ffmpegRequests = [
  crlf(`OPTIONS ${URL} RTSP/1.0`, 'CSeq: 1', UA, ''),
  crlf(`DESCRIBE ${URL} RTSP/1.0`, 'Accept: application/sdp', 'CSeq: 2', UA, ''),
  crlf(
    `SETUP ${URL}/stream=0 RTSP/1.0`,
    'Transport: RTP/AVP/TCP;unicast;interleaved=0-1',
    'CSeq: 3',
    UA,
    '',
  ),
  crlf(`PLAY ${URL}/ RTSP/1.0`, 'Range: npt=0.000-', 'CSeq: 4', UA, `Session: ${SESSION}`, ''),
  crlf(
    `GET_PARAMETER ${URL}/ RTSP/1.0`,
    'CSeq: 5',
    UA,
    `Session: ${SESSION}`,
    'Content-Type: text/parameters',
    'Content-Length: 13',
    '',
  ) + 'packets_sent\n',
  crlf(`TEARDOWN ${URL}/ RTSP/1.0`, 'CSeq: 6', UA, `Session: ${SESSION}`, ''),
];

/** What GStreamer's rtsp-server answers. */
export const gstreamerResponses = [
  crlf(
    'RTSP/1.0 401 Unauthorized',
    'CSeq: 1',
    'WWW-Authenticate: Digest realm="GStreamer RTSP Server", nonce="27f1a2b3c4d5e6f7"',
    'WWW-Authenticate: Basic realm="GStreamer RTSP Server"',
    SERVER,
    DATE,
    '',
  ),
  crlf(
    'RTSP/1.0 200 OK',
    'CSeq: 1',
    'Public: OPTIONS, DESCRIBE, ANNOUNCE, GET_PARAMETER, PAUSE, PLAY, RECORD, SETUP, SET_PARAMETER, TEARDOWN',
    SERVER,
    DATE,
    '',
  ),
  crlf(
    'RTSP/1.0 200 OK',
    'CSeq: 2',
    'Content-Type: application/sdp',
    `Content-Base: ${URL}/`,
    SERVER,
    DATE,
    `Content-Length: ${Buffer.byteLength(SDP)}`,
    '',
  ) + SDP,
  crlf(
    'RTSP/1.0 200 OK',
    'CSeq: 3',
    'Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5E1F2A3B;mode="PLAY"',
    SERVER,
    `Session: ${SESSION};timeout=60`,
    DATE,
    '',
  ),
  crlf(
    'RTSP/1.0 200 OK',
    'CSeq: 4',
    `RTP-Info: url=${URL}/stream=0;seq=20154;rtptime=3513433463`,
    'Range: npt=0-',
    SERVER,
    `Session: ${SESSION};timeout=60`,
    DATE,
    '',
  ),
];

/** A camera's answer with bare LF line endings. */
export const bareLfResponse =
  'RTSP/1.0 200 OK\nCSeq: 3\nSession: 8F3A21C0;timeout=65\n' +
  'Transport: RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=00001F2E\n\n';

function rtp(seq: number, size: number): Buffer {
  const packet = Buffer.alloc(12 + size, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 96;
  packet.writeUInt16BE(seq, 2);
  return packet;
}

/** The server side of the session: responses, then RTP/RTCP interleaved with a keep-alive answer. */
export function serverStream(): Buffer {
  const [r401 = '', options = '', describe = '', setup = '', play = ''] = gstreamerResponses;
  return Buffer.concat([
    Buffer.from(r401 + options + describe + setup + play, 'latin1'),
    interleavedFrame(0, rtp(20154, 1200)),
    interleavedFrame(0, rtp(20155, 3)),
    interleavedFrame(1, Buffer.from('80c80006', 'hex')),
    Buffer.from(bareLfResponse, 'latin1'),
    interleavedFrame(0, Buffer.alloc(0)),
    interleavedFrame(0, rtp(20156, 40)),
  ]);
}

/** The client side: ffmpeg's requests with RTCP receiver reports interleaved after PLAY. */
export function clientStream(): Buffer {
  const [options = '', describe = '', setup = '', play = '', keepalive = '', teardown = ''] =
    ffmpegRequests;
  return Buffer.concat([
    Buffer.from(options + describe + setup + play, 'latin1'),
    interleavedFrame(1, Buffer.from('81c90007deadbeef', 'hex')),
    Buffer.from(keepalive, 'latin1'),
    Buffer.from('\r\n', 'latin1'),
    interleavedFrame(1, Buffer.from('81c90007deadbeef', 'hex')),
    Buffer.from(teardown, 'latin1'),
  ]);
}
