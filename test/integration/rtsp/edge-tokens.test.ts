/**
 * Edge tokens at the RTSP edge, end to end with real parts: a control plane
 * with its mesh CA (mutual TLS on) mints tokens through `POST /tokens` and
 * through the `streammesh token` command; an RTSP proxy with
 * `proxy.rtsp.auth.jwt` checks them against the control plane's trust
 * bundle. ffprobe and GStreamer rtspsrc play the demo camera with a valid
 * token in the URL (`?jwt=`); a forged, an expired and a wrong-path token
 * get 401/403 and no media, counted by reason; a viewer's token cannot
 * ANNOUNCE (403), a publisher's can; an edge without a trust bundle yet
 * answers 503 and never plays. The expired token is signed by a genuine
 * token-issuer leaf of the same CA, so only its time is wrong.
 */
import assert from 'node:assert/strict';
import { KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RtspService } from '../../../rtp-proxy/media/rtsp/rtsp-service.js';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import type { TokenAnswer } from '../../../src/control-plane/tokens/index.js';
import { validateConfig } from '../../../src/config/index.js';
import {
  CLOCK_LEEWAY_SEC,
  mint,
  tokenIssuerId,
  type EdgeTokenFailure,
  type MintRequest,
} from '../../../src/shared/edge-token/index.js';
import { formatHostPort } from '../../../src/shared/address.js';
import { createCsr, generateWorkloadKey } from '../../../src/shared/identity/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { startSecurePlane, TRUST_DOMAIN, type SecurePlane } from '../control-plane/mtls-harness.js';
import { postToken } from '../../helpers/edge-token.js';
import { requirePeer, stopAllPeers } from '../../helpers/peers/process.js';
import { gstRtspViewer, probeRtsp } from '../../helpers/peers/rtsp-viewers.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { runStreammesh } from '../../helpers/process.js';

const log = createLogger('proxy', 'silent');
const HOUR_MS = 3_600_000;

function rtspConfig(trustDomain: string): ReturnType<typeof validateConfig> {
  return validateConfig(
    {
      controlPlane: { trustDomain },
      proxy: {
        rtsp: {
          listen: '127.0.0.1:0',
          demo: true,
          auth: { jwt: true },
          paths: { pub: { source: 'publisher' } },
        },
      },
    },
    'test',
  );
}

function portOf(service: RtspService): number {
  const address = service.address;
  assert.ok(address !== null);
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

after(stopAllPeers);

describe('edge tokens at the RTSP proxy', { timeout: 120_000 }, () => {
  let secure: SecurePlane;
  let adminToken: string;
  const rtsp = new RtspService(log, { trustBundle: () => secure.bundle });
  let port = 0;

  const url = (path: string, token?: string): string =>
    `rtsp://127.0.0.1:${port}/${path}${token === undefined ? '' : `?jwt=${token}`}`;

  const tokenFor = (request: MintRequest): Promise<string> =>
    postToken(secure.adminUrl, adminToken, request);

  /** DESCRIBE with the token in the URL: the status, and whether an SDP came. */
  const describeWith = async (
    path: string,
    token: string | undefined,
  ): Promise<{ status: number | undefined; sdp: boolean; authenticate: string[] }> => {
    const client = await RtspTestClient.connect(port);
    try {
      const response = await client.request('DESCRIBE', url(path, token), {
        Accept: 'application/sdp',
      });
      return {
        status: response?.status,
        sdp: (response?.body.length ?? 0) > 0,
        authenticate: response?.headers.getAll('WWW-Authenticate') ?? [],
      };
    } finally {
      client.close();
    }
  };

  before(async () => {
    requirePeer('ffprobe');
    requirePeer('gst-launch-1.0');
    secure = await startSecurePlane();
    adminToken = readFileSync(join(secure.dir, 'state', 'admin-token'), 'utf8').trim();
    await rtsp.apply(rtspConfig(TRUST_DOMAIN));
    port = portOf(rtsp);
  });

  after(async () => {
    await rtsp.close();
    await secure.close();
  });

  it('POST /tokens needs the admin token and refuses a bad body with the reason', async () => {
    const post = (body: unknown, token = adminToken): Promise<Response> =>
      fetch(`${secure.adminUrl}/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ role: 'viewer', paths: ['demo'] }, 'not-the-token')).status, 401);
    const both = await post({ role: 'viewer', paths: ['demo'], rooms: ['r'] });
    assert.equal(both.status, 400);
    assert.match(await both.text(), /not both/);
    const role = await post({ role: 'admin', paths: ['demo'] });
    assert.equal(role.status, 400);
    assert.match(await role.text(), /role/);
    const ok = await post({ role: 'viewer', paths: ['demo'], ttlSec: 120 });
    assert.equal(ok.status, 201);
    const answer = (await ok.json()) as TokenAnswer;
    const expires = Date.parse(answer.expiresAt);
    assert.ok(Math.abs(expires - (Date.now() + 120_000)) < 5_000, answer.expiresAt);
  });

  it('ffprobe plays with a compact token in the URL once the edge has seen a full one; without one it gets nothing', async () => {
    // ffmpeg cuts an RTSP URL's path and query at 1023 bytes: a full token (~1.3 KiB) does not fit.
    const full = await tokenFor({ role: 'viewer', paths: ['demo'] });
    const compact = await tokenFor({ role: 'viewer', paths: ['demo'], compact: true });
    assert.ok(url('demo', compact).length < 1000, `${url('demo', compact).length} bytes`);
    const unknown = await describeWith('demo', compact);
    assert.equal(unknown.status, 401, 'a compact token before any full one');
    assert.equal(rtsp.snapshot().defects['jwt_unknown_issuer'], 1);
    assert.equal((await describeWith('demo', full)).status, 200);
    for (const transport of ['udp', 'tcp'] as const) {
      const probe = await probeRtsp(url('demo', compact), transport);
      assert.equal(probe.codec, 'h264', probe.output);
      assert.ok(probe.packets > 10, `${transport}: ${probe.output}`);
    }
    const refused = await probeRtsp(url('demo'), 'tcp');
    assert.equal(refused.packets, 0, refused.output);
    assert.match(refused.output, /401/);
  });

  it('GStreamer rtspsrc plays with a token minted by `streammesh token`', async () => {
    const minted = await runStreammesh(['token', '--path', 'demo', '--ttl', '10m'], {
      STREAMMESH_CONTROL_PLANE_ADMIN: formatHostPort(secure.plane.admin),
      STREAMMESH_ADMIN_TOKEN: adminToken,
    });
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.equal(minted.stdout, `${token}\n`, 'the token alone on stdout');
    assert.equal(token.split('.').length, 3);
    const viewer = await gstRtspViewer(url('demo', token), 'tcp', 25);
    assert.ok(viewer.decoded, viewer.output);
    // And as Authorization: Bearer.
    const client = await RtspTestClient.connect(port);
    const described = await client.request('DESCRIBE', url('demo'), {
      Authorization: `Bearer ${token}`,
    });
    client.close();
    assert.equal(described?.status, 200);
  });

  it('`streammesh token` refuses bad options and a wrong admin token with exit 2', async () => {
    const env = {
      STREAMMESH_CONTROL_PLANE_ADMIN: formatHostPort(secure.plane.admin),
      STREAMMESH_ADMIN_TOKEN: adminToken,
    };
    const neither = await runStreammesh(['token'], env);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--path NAME/);
    const longTtl = await runStreammesh(['token', '--path', 'demo', '--ttl', '31d'], env);
    assert.equal(longTtl.code, 2);
    assert.match(longTtl.stderr, /--ttl/);
    const wrong = await runStreammesh(['token', '--room', 'r1'], {
      ...env,
      STREAMMESH_ADMIN_TOKEN: 'wrong-token-0123456789',
    });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /refused the admin token/);
    assert.equal(wrong.stdout, '');
  });

  it('a forged, an expired and a wrong-path token get 401/403 and no media, counted by reason', async () => {
    const good = await tokenFor({ role: 'viewer', paths: ['demo'] });
    const [header = '', claims = '', signature = ''] = good.split('.');
    // The claims widened to every path, the signature kept.
    const widened = Buffer.from(
      JSON.stringify({
        ...(JSON.parse(Buffer.from(claims, 'base64url').toString()) as object),
        paths: ['*'],
        sub: 'forger',
      }),
    ).toString('base64url');
    const forged = `${header}.${widened}.${signature}`;
    // A genuine token-issuer leaf of the same CA, minting a token that ended an hour ago.
    const ca = await MeshCa.loadOrCreate({
      dir: join(secure.dir, 'ca'),
      trustDomain: TRUST_DOMAIN,
    });
    const key = await generateWorkloadKey();
    const issuerId = tokenIssuerId(TRUST_DOMAIN);
    const leaf = await ca.issue(await createCsr(key, issuerId), { spiffeId: issuerId });
    const expired = mint(
      {
        issuerId,
        privateKey: KeyObject.from(key.privateKey),
        certificates: [new X509Certificate(leaf.certificatePem).raw],
        notAfterMs: leaf.notAfter.getTime(),
      },
      { role: 'viewer', paths: ['demo'], ttlSec: 600 },
      Date.now() - HOUR_MS - CLOCK_LEEWAY_SEC * 1000,
    ).token;
    const otherPath = await tokenFor({ role: 'viewer', paths: ['cam1'] });
    const room = await tokenFor({ role: 'viewer', rooms: ['demo'] });

    const cases: readonly {
      name: string;
      token: string;
      status: number;
      reason: `jwt_${EdgeTokenFailure}`;
    }[] = [
      { name: 'forged', token: forged, status: 401, reason: 'jwt_bad_signature' },
      { name: 'expired', token: expired, status: 401, reason: 'jwt_expired' },
      { name: 'wrong path', token: otherPath, status: 403, reason: 'jwt_wrong_scope' },
      { name: 'a room token', token: room, status: 403, reason: 'jwt_wrong_scope' },
      { name: 'garbage', token: 'a.b.c', status: 401, reason: 'jwt_malformed' },
    ];
    for (const { name, token, status, reason } of cases) {
      const before = rtsp.snapshot().defects[reason] ?? 0;
      const answer = await describeWith('demo', token);
      assert.equal(answer.status, status, name);
      assert.equal(answer.sdp, false, `${name}: no SDP`);
      assert.equal(rtsp.snapshot().defects[reason], before + 1, `${name} counted as ${reason}`);
      const probe = await probeRtsp(url('demo', token), 'tcp', 1);
      assert.equal(probe.packets, 0, `${name}: ${probe.output}`);
    }
    const missing = await describeWith('demo', undefined);
    assert.equal(missing.status, 401);
    assert.ok(
      missing.authenticate.includes('Bearer realm="streammesh"'),
      missing.authenticate.join(),
    );
  });

  it("a viewer's token cannot ANNOUNCE, a publisher's can (and may view)", async () => {
    const viewer = await tokenFor({ role: 'viewer', paths: ['pub', 'demo'] });
    const publisher = await tokenFor({ role: 'publisher', paths: ['pub', 'demo'] });
    const sdp = Buffer.from(
      'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n',
    );
    const announce = async (token: string): Promise<number | undefined> => {
      const client = await RtspTestClient.connect(port);
      try {
        // Past auth to view the path first, on the same connection: publishing it is asked again.
        const described = await client.request('DESCRIBE', url('pub', token));
        assert.ok(![401, 403].includes(described?.status ?? 0), String(described?.status));
        const answer = await client.request(
          'ANNOUNCE',
          url('pub', token),
          { 'Content-Type': 'application/sdp' },
          sdp,
        );
        return answer?.status;
      } finally {
        client.close();
      }
    };
    const wrongRole = rtsp.snapshot().defects['jwt_wrong_role'] ?? 0;
    assert.equal(await announce(viewer), 403);
    assert.equal(rtsp.snapshot().defects['jwt_wrong_role'], wrongRole + 1);
    assert.equal(await announce(publisher), 200);
  });

  it('an edge without a trust bundle yet answers 503 and never plays', async () => {
    const token = await tokenFor({ role: 'viewer', paths: ['demo'] });
    const early = new RtspService(log, { trustBundle: () => undefined });
    await early.apply(rtspConfig(TRUST_DOMAIN));
    try {
      const client = await RtspTestClient.connect(portOf(early));
      const response = await client.request(
        'DESCRIBE',
        `rtsp://127.0.0.1:${portOf(early)}/demo?jwt=${token}`,
      );
      client.close();
      assert.equal(response?.status, 503);
      assert.equal(early.snapshot().defects['jwt_not_ready'], 1);
    } finally {
      await early.close();
    }
  });
});
