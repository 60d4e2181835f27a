/**
 * UDP sockets for media: binding, connecting, and RTP/RTCP port pairs from a range.
 */
export { bindPair, PortAllocator, PortsExhaustedError, type PortPair } from './port-allocator.js';
export { bindUdp, closeQuietly, connectUdp } from './udp.js';
