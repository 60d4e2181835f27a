/**
 * The RTSP proxy of the rtp-proxy: its listener, viewer auth, and the named
 * paths viewers pull (`rtsp://proxy:8554/<path>`), each fed by a camera URL,
 * by publishers (ANNOUNCE/RECORD) or by the built-in demo clip. Part of the
 * one config schema.
 */
import { z } from 'zod';
import { parseHostPort } from '../shared/address.js';

const hostPort = z.string().superRefine((text, ctx) => {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

/** URL path segments viewers can type without escaping. */
export const RTSP_PATH_NAME = /^[A-Za-z0-9][A-Za-z0-9._~-]*(\/[A-Za-z0-9._~-]+)*$/;
export const DEMO_PATH = 'demo';

const cameraUrl = z
  .string()
  .max(2048)
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an rtsp:// URL or "publisher"' });
      return;
    }
    if (url.protocol !== 'rtsp:') {
      ctx.addIssue({ code: 'custom', message: `must be an rtsp:// URL, not ${url.protocol}//` });
    } else if (url.hostname === '') {
      ctx.addIssue({ code: 'custom', message: 'the camera URL has no host' });
    }
  });

const pathSchema = z
  .strictObject({
    source: z
      .union([z.literal('publisher'), cameraUrl])
      .describe(
        'rtsp://[user:password@]host[:port]/path of the camera (credentials are used for Basic/Digest), or "publisher" for a stream pushed with ANNOUNCE/RECORD.',
      ),
    transport: z
      .enum(['auto', 'udp', 'tcp'])
      .default('auto')
      .describe(
        'Transport towards the camera. auto: UDP, then TCP-interleaved when UDP brings nothing.',
      ),
    onDemand: z
      .boolean()
      .default(true)
      .describe(
        'Pull the camera only while someone watches (closed lingerMs after the last viewer); false keeps it always on.',
      ),
    lingerMs: z
      .number()
      .int()
      .min(0)
      .max(3_600_000)
      .default(10_000)
      .describe('How long an on-demand camera stays open after its last viewer leaves.'),
  })
  .describe('One path viewers can pull.');

const userSchema = z.strictObject({
  user: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[^:\s]+$/, { message: 'must not contain ":" or white space' }),
  password: z.string().min(1).max(256),
});

const authSchema = z
  .strictObject({
    users: z.array(userSchema).max(1024).default([]).describe('Viewers and publishers.'),
    tokens: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z0-9._~-]{16,256}$/, { message: 'must be 16-256 URL-safe characters' }),
      )
      .max(1024)
      .default([])
      .describe('Accepted as ?token=… in the URL, in place of a user and password.'),
    methods: z
      .array(z.enum(['basic', 'digest']))
      .min(1)
      .default(['digest', 'basic'])
      .describe('Challenges offered to clients, in order of preference.'),
    jwt: z
      .boolean()
      .optional()
      .describe(
        'Also accept an edge token signed by the control plane (`streammesh token --path NAME`): ?jwt=<token> in the URL, or Authorization: Bearer. ' +
          'Its path claim must name the path ("*" for all); ANNOUNCE and RECORD need role publisher. ' +
          'A missing, forged or expired token is 401, another path or role 403; 503 until this node holds the mesh trust bundle.',
      ),
  })
  .describe('Clients must authenticate; without this section the RTSP proxy is open.');

export const rtspSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve RTSP at all.'),
    listen: hostPort.default('127.0.0.1:8554').describe('RTSP (TCP) listener.'),
    demo: z
      .boolean()
      .default(true)
      .describe('Serve the built-in demo camera (a looped H.264 clip) at /demo.'),
    sessionTimeoutSec: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(60)
      .describe('A UDP session with no request or RTCP for this long is closed.'),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1024)
      .describe('Concurrent RTSP connections; more are refused and counted.'),
    maxConnectionsPerSource: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(64)
      .describe(
        'Concurrent RTSP connections from one source address; more are refused and counted.',
      ),
    headTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(10_000)
      .describe(
        'A connection must complete its first request head within this, and any later request within this of its first byte; else it is closed and counted.',
      ),
    requestsPerSecondPerSource: z
      .number()
      .min(0.1)
      .max(100_000)
      .default(100)
      .describe(
        'RTSP requests per second one source address may keep sending (over all its connections); more are answered 503 with Retry-After, the connection kept, and counted in streammesh_rate_limited_requests_total{listener="rtsp"}.',
      ),
    requestBurstPerSource: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(400)
      .describe('RTSP requests one source address may send at once after being quiet.'),
    maxSessionsPerSource: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(64)
      .describe(
        'RTSP sessions (SETUP viewers and publishers) one source address may hold at once; a SETUP over it is answered 453 Not Enough Bandwidth and counted.',
      ),
    auth: authSchema.optional(),
    paths: z
      .record(z.string(), pathSchema)
      .default({})
      .superRefine((paths, ctx) => {
        // Checked here rather than as the record's key schema, whose error
        // would not say what a path name may be.
        for (const name of Object.keys(paths)) {
          if (name.length > 128 || !RTSP_PATH_NAME.test(name)) {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message:
                'is not a path name: letters, digits and . _ ~ - separated by /, at most 128 characters',
            });
          }
        }
      })
      .describe('Named paths: rtsp://<listen>/<name>.'),
  })
  .superRefine((rtsp, ctx) => {
    if (rtsp.demo && Object.hasOwn(rtsp.paths, DEMO_PATH)) {
      ctx.addIssue({
        code: 'custom',
        path: ['paths', DEMO_PATH],
        message: 'is the built-in demo camera; set proxy.rtsp.demo: false to name a path "demo"',
      });
    }
  })
  .describe('RTSP proxy: each camera pulled once, fanned out to any number of viewers.');

export type RtspConfig = z.output<typeof rtspSchema>;
export type RtspPathConfig = z.output<typeof pathSchema>;
export type RtspAuthConfig = z.output<typeof authSchema>;

/** One path's schema, for objects that carry a single path (the Camera custom resource). */
export { pathSchema as rtspPathSchema };
