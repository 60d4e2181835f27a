/**
 * The signaling node's budgets (issue 14): its HTTP/WebSocket listener's
 * connections and head timeout, and what anonymous clients may hold of the
 * SFU, in total and per source address. Part of the one config schema
 * (`signaling.connections`, `signaling.budgets`, `signaling.connectTimeoutMs`).
 */
import { z } from 'zod';

const count = (max: number) => z.number().int('must be an integer').min(1).max(max);

export const signalingConnectionsSchema = z
  .strictObject({
    maxConnections: count(1_000_000)
      .default(4096)
      .describe('Connections open at once on the listener (HTTP and WebSocket); more are closed.'),
    maxPerSource: count(1_000_000)
      .default(256)
      .describe('Connections open at once from one source address; more are closed.'),
    headTimeoutMs: z
      .number()
      .int('must be an integer')
      .min(100)
      .max(600_000)
      .default(10_000)
      .describe('A connection that has not sent a complete request head within this is closed.'),
    requestsPerSecondPerSource: z
      .number()
      .min(0.1)
      .max(1_000_000)
      .default(100)
      .describe(
        'HTTP requests (WHIP/WHEP, /ws upgrades, the demo page) per second one source address may keep sending; more are answered 429 with Retry-After and counted in streammesh_rate_limited_requests_total{listener="signaling"}.',
      ),
    requestBurstPerSource: count(1_000_000)
      .default(400)
      .describe('HTTP requests one source address may send at once after being quiet.'),
  })
  .describe(
    'Budget of the signaling listener: every refusal and head timeout is counted in streammesh_listener_refused_connections_total{listener="signaling"}, every request over its source\'s rate in streammesh_rate_limited_requests_total{listener="signaling"}.',
  );

function resourceBudget(what: string, total: number, perSource: number) {
  return z
    .strictObject({
      total: count(1_000_000).default(total).describe(`${what} held at once on this node.`),
      perSource: count(1_000_000)
        .default(perSource)
        .describe(`${what} held at once by one source address.`),
    })
    .describe(`${what}: beyond the budget a request is refused with over_budget (429/503).`);
}

export const webrtcBudgetsSchema = z
  .strictObject({
    webSockets: resourceBudget('WebSocket signaling connections', 2000, 64).prefault({}),
    rooms: resourceBudget('Rooms created (one mediasoup Router each)', 1000, 32).prefault({}),
    transports: resourceBudget(
      'WebRTC transports (one UDP and one TCP port each), of WebSocket peers and WHIP/WHEP sessions',
      4000,
      128,
    ).prefault({}),
    sessions: resourceBudget('WHIP and WHEP sessions', 500, 32).prefault({}),
  })
  .describe(
    'What anonymous clients may hold of the SFU; checked before a port is taken, refusals counted in streammesh_signaling_over_budget_total{reason}.',
  );

export const connectTimeoutMsSchema = z
  .number()
  .int('must be an integer')
  .min(1000)
  .max(60_000)
  .default(8_000)
  .describe(
    'A WHIP/WHEP session that has not completed ICE and DTLS this long after its answer is closed and its ports freed.',
  );
