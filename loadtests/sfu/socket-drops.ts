/**
 * Where UDP datagrams were dropped: the kernel counts, per socket
 * (/proc/net/udp, last column), datagrams it discarded because that
 * socket's receive buffer was full. Summed over the SFU's RTC ports (every
 * node's range) on one side and every other socket on the other, a
 * window's delta says whether the SFU's workers or the peers (werift in the
 * generators) fell behind. Only
 * sockets open at both ends of a window count; one closed in between takes
 * its counter with it.
 */
import { udpSockets } from '../../test/helpers/proc-udp.js';

export interface SocketDrops {
  /** Sockets bound to a port in one of the SFU's RTC ranges. */
  readonly sfu: number;
  /** Every other UDP socket on the machine (the peers, the source). */
  readonly others: number;
}

export function socketDrops(
  sfuPorts: readonly { readonly min: number; readonly max: number }[],
): SocketDrops {
  let sfu = 0;
  let others = 0;
  for (const { port, drops } of udpSockets()) {
    if (sfuPorts.some((range) => port >= range.min && port <= range.max)) sfu += drops;
    else others += drops;
  }
  return { sfu, others };
}
