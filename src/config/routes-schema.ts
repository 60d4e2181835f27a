/**
 * Stream routes of the rtp-proxy: an ingress UDP port and the destinations
 * its RTP (and RTCP) is relayed to. Part of the one config schema.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { keyLengths, srtpProfiles, type SrtpProfile } from '../protocol/srtp/index.js';
import { parseHostPort } from '../shared/address.js';

const srtpProfile = z.enum(srtpProfiles as [SrtpProfile, ...SrtpProfile[]]);

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const srtpLegSchema = z
  .strictObject({
    profile: srtpProfile.describe('SRTP protection profile of this leg.'),
    key: z
      .string()
      .describe(
        'SDES inline value: base64 of master key || master salt; or "generate" for a new key per start, shown at the admin /keys endpoint.',
      ),
  })
  .superRefine((leg, ctx) => {
    if (leg.key === 'generate') return;
    const { keyLength, saltLength } = keyLengths(leg.profile);
    const expected = keyLength + saltLength;
    if (!BASE64.test(leg.key)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'must be base64 or "generate"' });
      return;
    }
    const bytes = Buffer.from(leg.key, 'base64').length;
    if (bytes !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `${leg.profile} needs ${expected} bytes (key ${keyLength} + salt ${saltLength}), got ${bytes}`,
      });
    }
  })
  .describe('SRTP/SRTCP on this leg; without it the leg is plain RTP.');

const udpAddress = z.string().superRefine((text, ctx) => {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  else if (isIP(parsed.host) === 0)
    ctx.addIssue({ code: 'custom', message: 'host must be an IP address' });
});

const destinationSchema = z
  .strictObject({
    address: udpAddress.describe('Where RTP goes (IP:port); RTCP goes to port+1 unless rtcpMux.'),
    rtcpMux: z.boolean().default(false).describe('RTCP on the RTP port (RFC 5761).'),
    srtp: srtpLegSchema.optional(),
    rewrite: z
      .strictObject({
        ssrc: z
          .number()
          .int()
          .min(0)
          .max(0xffffffff)
          .optional()
          .describe('Replace the SSRC of forwarded RTP with this one.'),
        sequence: z
          .boolean()
          .default(false)
          .describe('Renumber forwarded RTP from a random start, without gaps.'),
      })
      .optional()
      .describe('SSRC and sequence numbers pass unchanged unless asked here.'),
  })
  .describe('One receiver of the route.');

const routeName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'must be a DNS label: lowercase letters, digits and "-", at most 63 characters',
});

export const routeSchema = z
  .strictObject({
    name: routeName.describe('Unique name; used in metrics labels and /streams.'),
    listen: udpAddress.describe(
      'Ingress RTP address (IP:port); RTCP on port+1 unless rtcpMux. Port 0: a pair from proxy.rtpPorts.',
    ),
    rtcpMux: z.boolean().default(false).describe('RTCP on the RTP port (RFC 5761).'),
    kind: z.enum(['audio', 'video']).default('video').describe('For the MOS estimate (audio).'),
    clockRate: z
      .number()
      .int()
      .min(1000)
      .max(192_000)
      .default(90_000)
      .describe('RTP clock rate of the payload, to express jitter in milliseconds.'),
    latch: z
      .strictObject({
        address: z
          .string()
          .refine((text) => isIP(text) !== 0, { message: 'must be an IP address' })
          .optional()
          .describe('Accept media only from this source address.'),
        ssrc: z
          .boolean()
          .default(false)
          .describe('Accept only the first SSRC seen; others are dropped as unknown_ssrc.'),
      })
      .prefault({})
      .describe(
        'Symmetric RTP: the sender is learnt from the first valid packet; others are dropped.',
      ),
    srtp: srtpLegSchema.optional().describe('The ingress leg is SRTP; it is decrypted here.'),
    destinations: z.array(destinationSchema).min(1).max(64),
  })
  .describe('A stream route: RTP in on one port, out to one or more destinations.');

export const routesSchema = z
  .array(routeSchema)
  .max(4096)
  .default([])
  .superRefine((routes, ctx) => {
    const names = new Map<string, number>();
    const listens = new Map<string, number>();
    routes.forEach((route, index) => {
      const sameName = names.get(route.name);
      if (sameName !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `"${route.name}" is also the name of route ${sameName}`,
        });
      }
      names.set(route.name, index);
      if (route.listen.endsWith(':0')) return;
      const sameListen = listens.get(route.listen);
      if (sameListen !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'listen'],
          message: `${route.listen} is also the listen address of route ${sameListen}`,
        });
      }
      listens.set(route.listen, index);
    });
  })
  .describe('Stream routes relayed by the proxy.');

export type RouteConfig = z.output<typeof routeSchema>;
export type DestinationConfig = z.output<typeof destinationSchema>;
export type SrtpLegConfig = z.output<typeof srtpLegSchema>;
