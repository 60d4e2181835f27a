/**
 * Checks of a proxy's HopRequests (the camera streams it wants over a hop,
 * and where it receives each). They come from the network, so every field
 * is checked against the config in force before the planner takes them; a
 * set with one bad request is dropped as a whole (the node's previous set
 * stays in force) and counted by the reason here, so a half-understood set
 * never removes hops the node still uses.
 */
import { parseHostPort } from '../../shared/address.js';
import { MAX_HOP_REQUESTS, type HopRequest } from '../../protocol/mesh/index.js';
import { CAMERA_KEY_PREFIX } from '../placement/index.js';

/** Why a request set is dropped: the label of streammesh_control_plane_bad_hop_requests_total. */
export type HopRequestDefect =
  'too_many' | 'not_proxy' | 'unknown_session' | 'bad_address' | 'duplicate_session';

/** Characters of `[v6 address]:port` at most; the hop body's schema takes what this passes. */
const MAX_ADDRESS_LENGTH = 261;

/** Whether `address` is a host:port a hop body accepts, with a port a socket can have. */
export function isHopAddress(address: string): boolean {
  if (address.length > MAX_ADDRESS_LENGTH) return false;
  const parsed = parseHostPort(address);
  return typeof parsed !== 'string' && parsed.port > 0;
}

/**
 * A node's requests as session key -> receiving address, or why they are
 * dropped. `cameraSessions` are the camera session keys of the config in
 * force (a session the config does not pull from a camera has no owner to
 * ask).
 */
export function checkHopRequests(
  requests: readonly HopRequest[],
  cameraSessions: ReadonlySet<string>,
): Map<string, string> | HopRequestDefect {
  if (requests.length > MAX_HOP_REQUESTS) return 'too_many';
  const checked = new Map<string, string>();
  for (const { session, address } of requests) {
    if (!session.startsWith(CAMERA_KEY_PREFIX) || !cameraSessions.has(session)) {
      return 'unknown_session';
    }
    if (!isHopAddress(address)) return 'bad_address';
    if (checked.has(session)) return 'duplicate_session';
    checked.set(session, address);
  }
  return checked;
}
