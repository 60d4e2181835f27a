/**
 * UDP sockets for media: batched sockets (native recvmmsg/sendmmsg or
 * node:dgram, one choice per thread), RTP/RTCP port pairs from a range,
 * send slabs, and plain node:dgram helpers for sockets off the media path.
 */
export {
  bindPair,
  closePair,
  PortAllocator,
  PortsExhaustedError,
  type PortPair,
} from './port-allocator.js';
export { bindUdp, closeQuietly, connectUdp } from './udp.js';
export {
  bindMediaSocket,
  closeMediaSocket,
  openMediaSocket,
  udpIoChoice,
  udpIoKind,
  useUdpIo,
  UdpIoUnavailableError,
  type UdpIoChoice,
  type UdpIoKind,
  type UdpIoSetting,
} from './udp-io.js';
export { loadUdpBatchAddon } from './batch-native.js';
export { SendSlab, type FlushResult, type SendSlabOptions } from './send-slab.js';
export { flushAtTurnEnd, type TurnEndFlush } from './turn-end.js';
export type {
  BatchHandler,
  BatchSocket,
  BatchSocketCounters,
  BatchSocketOptions,
  ErrorHandler,
  UdpBatch,
  UdpDestination,
  UdpSocketError,
  UdpSource,
} from './batch-types.js';
