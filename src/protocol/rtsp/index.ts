/**
 * RTSP 1.0 (RFC 2326) message codec: the stream parser the RTSP proxy feeds
 * with TCP bytes, the serializers, and the header values a proxy rewrites.
 */
export { isToken, RtspHeaders } from './headers.js';
export {
  interleavedFrame,
  INTERLEAVED_MAGIC,
  MAX_INTERLEAVED_PAYLOAD,
  RtspSerializeError,
  serializeRequest,
  serializeResponse,
  type RtspRequest,
  type RtspResponse,
  type RtspVersion,
} from './message.js';
export {
  RTSP_PARSE_ERROR_STATUS,
  RTSP_PARSER_DEFAULTS,
  RtspStreamParser,
  type RtspParseErrorReason,
  type RtspParseEvent,
  type RtspStreamParserOptions,
} from './stream-parser.js';
export {
  formatRange,
  formatRtpInfo,
  formatSession,
  formatTransport,
  parseRange,
  parseRtpInfo,
  parseSession,
  parseTransport,
  splitQuoted,
  type RtpInfoEntry,
  type RtspRange,
  type SessionHeader,
  type TransportProtocol,
  type TransportSpec,
} from './header-values.js';
export {
  digestAuthorization,
  digestResponse,
  formatAuthorization,
  parseWwwAuthenticate,
  RtspAuthError,
  type AuthChallenge,
  type AuthCredentials,
  type DigestAlgorithm,
  type DigestInput,
} from './auth.js';
