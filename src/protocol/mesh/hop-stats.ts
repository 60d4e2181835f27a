/**
 * One camera hop as a proxy reports it to the control plane, in the `hops`
 * of its stats report (StatsReport.stats_json): what the proxy's hop end
 * measured. The control plane reads it defensively (reports come from the
 * network) for GET /streams/<path>/hops.
 */
export interface HopStats {
  readonly hopId: string;
  /** The session key ("camera/<path>"). */
  readonly session: string;
  readonly role: 'sender' | 'receiver';
  /** The node at the other end. */
  readonly peer: string;
  readonly rtpPackets: number;
  /** Loss over the hop: measured at the receiver, as reported back at the sender. */
  readonly lossFraction: number;
  readonly jitterMs: number;
  /** From SR/RR; the sender's end only. */
  readonly rttMs: number | null;
  /** Packets dropped at this end, all reasons. */
  readonly drops: number;
}
