/**
 * GStreamer as a second, independent H.264 RTP/SRTP sender: `srtpenc` is
 * libsrtp2, where ffmpeg has SRTP code of its own.
 *
 *   videotestsrc num-buffers=N is-live=true ! video/x-raw,... ! x264enc ...
 *     ! rtph264pay pt=96 ssrc=... config-interval=-1 ! [srtpenc key=HEX !]
 *     udpsink host=127.0.0.1 port=P
 *
 * x264enc's `tune=zerolatency` turns on sliced threads: each frame becomes
 * several slices, and with SPS/PPS repeated before each key frame ffmpeg's
 * parser splits the key frames into two pictures. `sliced-threads=false`
 * keeps one slice per frame, so a receiver decodes exactly N frames.
 * SPS/PPS go in-band (config-interval=-1), so `gstreamerSdp()` needs no
 * sprop-parameter-sets.
 */
import { requirePeer, spawnPeer, type PeerExit, type PeerProcess } from './process.js';
import { SRTP_SUITE, srtpKeyHex } from './srtp-key.js';

export interface GstH264Options {
  readonly port: number;
  readonly host?: string;
  /** Source port of the packets (udpsink bind-port). */
  readonly localPort?: number;
  readonly payloadType?: number;
  readonly ssrc?: number;
  /** base64 key||salt: protect with srtpenc (AES_CM_128_HMAC_SHA1_80 for RTP and RTCP). */
  readonly srtpKey?: string;
  /** Frames to send: the pipeline ends after them. */
  readonly frames?: number;
  readonly fps?: number;
  readonly width?: number;
  readonly height?: number;
  /** Hard bound; default: the frames' duration plus 10 s. */
  readonly timeoutMs?: number;
}

/** The gst-launch-1.0 pipeline, one element or property per argument. */
export function gstH264Pipeline(options: GstH264Options): string[] {
  const { frames = 75, fps = 25, width = 320, height = 240 } = options;
  const ssrc = (options.ssrc ?? 0x22334455) >>> 0;
  const pipeline = [
    ...['videotestsrc', `num-buffers=${frames}`, 'is-live=true', '!'],
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1`,
    '!',
    ...['x264enc', 'tune=zerolatency', 'sliced-threads=false', 'speed-preset=ultrafast'],
    ...[`key-int-max=${fps}`, '!'],
    ...['rtph264pay', `pt=${options.payloadType ?? 96}`, `ssrc=${ssrc}`, 'config-interval=-1'],
  ];
  if (options.srtpKey !== undefined) {
    // rtp-cipher/rtp-auth default to aes-128-icm / hmac-sha1-80; spelled out for the reader.
    pipeline.push('!', 'srtpenc', `key=${srtpKeyHex(options.srtpKey)}`);
    pipeline.push('rtp-cipher=aes-128-icm', 'rtp-auth=hmac-sha1-80');
  }
  pipeline.push('!', 'udpsink', `host=${options.host ?? '127.0.0.1'}`, `port=${options.port}`);
  if (options.localPort !== undefined) pipeline.push(`bind-port=${options.localPort}`);
  pipeline.push('sync=true');
  return pipeline;
}

/** Starts the sender; it ends by itself after `frames` frames. */
export function startGstH264Sender(options: GstH264Options): PeerProcess {
  requirePeer('gst-launch-1.0');
  const { frames = 75, fps = 25 } = options;
  return spawnPeer('gst-launch-1.0', ['-q', ...gstH264Pipeline(options)], {
    timeoutMs: options.timeoutMs ?? (frames / fps) * 1000 + 10_000,
    // gst-launch-1.0 -e would need EOS handling; SIGINT ends it cleanly enough.
    stopSignal: 'SIGINT',
  });
}

/** Sends the frames; resolves when the pipeline has ended. */
export async function sendGstH264(options: GstH264Options): Promise<PeerExit> {
  const result = await startGstH264Sender(options).exited;
  if (result.code !== 0) {
    throw new Error(`gst-launch-1.0 exited ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return result;
}

/** An SDP a receiver of this sender can use (port 9: rewrite it with `rewriteSdp`). */
export function gstreamerSdp(options: { payloadType?: number; srtpKey?: string } = {}): string {
  const pt = options.payloadType ?? 96;
  const lines = [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=gstreamer',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=video 9 ${options.srtpKey === undefined ? 'RTP/AVP' : 'RTP/SAVP'} ${pt}`,
    `a=rtpmap:${pt} H264/90000`,
    `a=fmtp:${pt} packetization-mode=1`,
  ];
  if (options.srtpKey !== undefined) {
    lines.push(`a=crypto:1 ${SRTP_SUITE} inline:${options.srtpKey}`);
  }
  return `${lines.join('\n')}\n`;
}
