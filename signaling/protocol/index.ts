/**
 * The WebSocket signaling protocol v1 (PROTOCOL.md): parsing requests, building frames.
 */
export {
  cleanDisplayName,
  codePoints,
  displayNameSchema,
  MAX_DISPLAY_NAME_CHARS,
} from './display-name.js';
export {
  errorFrame,
  eventFrame,
  MAX_MESSAGE_BYTES,
  parseClientMessage,
  responseFrame,
  SUBPROTOCOL,
  type ClientRequest,
  type ErrorCode,
  type EventName,
  type ProtocolError,
} from './messages.js';
