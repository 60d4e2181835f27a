/**
 * The mediasoup side of a camera's H.264 track: the Router codec that
 * carries the camera's profile (mediasoup refuses a Producer whose H.264
 * profile or packetization mode the Router lacks), and the Producer's RTP
 * parameters.
 *
 * The Producer advertises no RTCP feedback: the RTSP proxy cannot pass a
 * NACK or a keyframe request (PLI/FIR) on to the camera, so mediasoup need
 * not send them. Consumers still negotiate NACK with browsers from the
 * Router's capabilities and mediasoup answers those from its own buffer.
 */
import type { types } from 'mediasoup';
import { H264_CLOCK_RATE, type H264Track } from './h264-track.js';

function h264Parameters(track: H264Track): Record<string, number | string> {
  return {
    'packetization-mode': track.packetizationMode,
    'profile-level-id': track.profileLevelId,
    // Browsers may decode the camera's level while offering a lower one.
    'level-asymmetry-allowed': 1,
  };
}

export function cameraRouterCodecs(track: H264Track): types.RouterRtpCodecCapability[] {
  return [
    {
      kind: 'video',
      mimeType: 'video/H264',
      clockRate: H264_CLOCK_RATE,
      parameters: h264Parameters(track),
    },
  ];
}

export function cameraRtpParameters(
  track: H264Track,
  ssrc: number,
  cname: string,
): types.RtpParameters {
  return {
    codecs: [
      {
        mimeType: 'video/H264',
        payloadType: track.payloadType,
        clockRate: H264_CLOCK_RATE,
        parameters: h264Parameters(track),
        rtcpFeedback: [],
      },
    ],
    encodings: [{ ssrc }],
    rtcp: { cname, reducedSize: true },
  };
}
