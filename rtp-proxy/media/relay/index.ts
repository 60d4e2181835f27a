/**
 * The RTP/SRTP relay: the table of media routes (`proxy.routes`), a config participant.
 */
export { MediaRouteTable, generatedKeyId } from './media-route-table.js';
