/**
 * Secrets never leak (issue 17, point 8): the whole mesh (`streammesh up`)
 * runs with secrets this test makes up (random each run, so nothing can be
 * excluded by name), is poked where secrets tend to escape (a wrong
 * password, a wrong admin token, a refused config that holds a secret, a
 * relay route's SRTP key, a camera URL with credentials, the node's own
 * workload key), and then every output a user or a scraper can see is
 * searched for them: the command's stdout and stderr with --verbose (every
 * role's log lines), the roles' log file, and every admin view of every
 * role, /metrics included.
 *
 * The mesh's state (CA root, bootstrap and admin token files, the log file)
 * lives in a temporary XDG_STATE_HOME, so the test sees exactly its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bearer } from '../../helpers/admin-token.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { startStreammesh, type Running } from '../../helpers/process.js';

/** URL-safe random text of `bytes` bytes: a token or a password nobody could guess. */
function secret(bytes = 18): string {
  return randomBytes(bytes).toString('base64url');
}

const secrets = {
  adminToken: secret(),
  bootstrapToken: secret(),
  rtspPassword: `pw-${secret()}`,
  rtspViewerToken: secret(),
  cameraPassword: `cam-${secret()}`,
  // AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt, base64.
  srtpKey: randomBytes(30).toString('base64'),
  wrongAdminToken: secret(),
} as const;

function configText(): string {
  return [
    'logLevel: debug',
    'proxy:',
    '  routes:',
    '    - name: keyed',
    '      listen: 127.0.0.1:0',
    '      srtp:',
    '        profile: AES_CM_128_HMAC_SHA1_80',
    `        key: ${secrets.srtpKey}`,
    '      destinations:',
    '        - address: 127.0.0.1:9',
    '  rtsp:',
    '    auth:',
    '      users:',
    `        - { user: viewer, password: ${JSON.stringify(secrets.rtspPassword)} }`,
    `      tokens: [${JSON.stringify(secrets.rtspViewerToken)}]`,
    '    paths:',
    '      cam1:',
    `        source: rtsp://camuser:${secrets.cameraPassword}@127.0.0.1:9/stream`,
    '        onDemand: true',
    '',
  ].join('\n');
}

interface RoleUrls {
  readonly controlPlane: string;
  readonly proxy: string;
  readonly signaling: string;
}

/** Every view an admin listener serves without reveal, by role. */
const views: Record<keyof RoleUrls, readonly string[]> = {
  controlPlane: [
    '/config',
    '/nodes',
    '/stats',
    '/placements',
    '/hops',
    '/metrics',
    '/healthz',
    '/readyz',
  ],
  proxy: [
    '/config_dump',
    '/streams',
    '/hops',
    '/placements',
    '/keys',
    '/metrics',
    '/healthz',
    '/readyz',
  ],
  signaling: ['/config_dump', '/metrics', '/healthz', '/readyz'],
};

/** One RTSP request on a fresh connection; resolves with the answer's first line. */
function rtspRequest(address: string, request: string): Promise<string> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    address.slice(address.lastIndexOf(':') + 1),
  ];
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    let received = '';
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''));
    socket.on('error', () => resolve(received));
    socket.write(request);
  });
}

describe('secrets never leak (issue 17)', { timeout: 90_000 }, () => {
  const state = mkdtempSync(join(tmpdir(), 'streammesh-secrets-'));
  let up: Running;
  let urls: RoleUrls;
  let rtspAddress: string;
  /** Everything collected from the mesh, labelled by where it came from. */
  const outputs: { where: string; text: string }[] = [];

  before(async () => {
    up = startStreammesh(['up', '--config', writeTempConfig(configText()), '--verbose'], {
      XDG_STATE_HOME: state,
      STREAMMESH_ADMIN_TOKEN: secrets.adminToken,
      STREAMMESH_BOOTSTRAP_TOKEN: secrets.bootstrapToken,
      STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
      STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
      STREAMMESH_PROXY_ADMIN: '127.0.0.1:0',
      STREAMMESH_PROXY_RTSP_LISTEN: '127.0.0.1:0',
      STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
      STREAMMESH_SIGNALING_LISTEN: '127.0.0.1:0',
    });
    const ready = async (role: string): Promise<string> =>
      (await up.waitForOutput(new RegExp(`^${role} +ready +(http://\\S+)`, 'm'), 30_000))[1] ?? '';
    urls = {
      controlPlane: await ready('control-plane'),
      proxy: await ready('proxy'),
      signaling: await ready('signaling'),
    };
    const rtsp = await up.waitForOutput(/rtsp:\/\/(127\.0\.0\.1:\d+)\//, 10_000);
    rtspAddress = rtsp[1] ?? '';
  });

  after(async () => {
    await up.stop('SIGINT', 15_000);
    rmSync(state, { recursive: true, force: true });
  });

  it('pokes the mesh where secrets tend to escape', async () => {
    // A wrong password and a wrong viewer token at the RTSP proxy.
    const basic = Buffer.from(`viewer:not-${secrets.rtspPassword}`).toString('base64');
    const refused = await rtspRequest(
      rtspAddress,
      `DESCRIBE rtsp://${rtspAddress}/cam1 RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic ${basic}\r\n\r\n`,
    );
    assert.match(refused, /^RTSP\/1\.0 401/);
    const badToken = await rtspRequest(
      rtspAddress,
      `DESCRIBE rtsp://${rtspAddress}/cam1?token=x${secrets.rtspViewerToken} RTSP/1.0\r\nCSeq: 1\r\n\r\n`,
    );
    assert.match(badToken, /^RTSP\/1\.0 401/);
    // The right token pulls the camera, whose URL holds its password; the
    // camera is not there, so the pull fails and is logged.
    const pulled = await rtspRequest(
      rtspAddress,
      `DESCRIBE rtsp://${rtspAddress}/cam1?token=${secrets.rtspViewerToken} RTSP/1.0\r\nCSeq: 1\r\n\r\n`,
    );
    assert.match(pulled, /^RTSP\/1\.0 [45]\d\d/);

    // A write with a wrong admin token, and a refused config holding secrets.
    const wrong = await fetch(`${urls.controlPlane}/config`, {
      method: 'PUT',
      headers: { ...bearer(secrets.wrongAdminToken), 'content-type': 'application/yaml' },
      body: 'logLevel: info\n',
    });
    assert.equal(wrong.status, 401);
    const badConfig = await fetch(`${urls.controlPlane}/config`, {
      method: 'PUT',
      headers: { ...bearer(secrets.adminToken), 'content-type': 'application/yaml' },
      body: [
        'proxy:',
        '  rtsp:',
        '    auth:',
        `      users: [{ user: viewer, password: ${JSON.stringify(secrets.rtspPassword)}, extra: 1 }]`,
        '  routes:',
        '    - name: keyed',
        '      listen: 127.0.0.1:0',
        `      srtp: { profile: AES_CM_128_HMAC_SHA1_80, key: "${secrets.srtpKey}x" }`,
        '      destinations: [{ address: 127.0.0.1:9 }]',
        '',
      ].join('\n'),
    });
    assert.equal(badConfig.status, 400);
    outputs.push({ where: 'PUT /config refusal', text: await badConfig.text() });
    // /keys without reveal, even with the token: fingerprints, not keys.
    const keys = await fetch(`${urls.proxy}/keys`, { headers: bearer(secrets.adminToken) });
    assert.equal(keys.status, 200);
    outputs.push({ where: 'proxy GET /keys (token, no reveal)', text: await keys.text() });
    // The search can see a secret where one is: an operator who asks
    // explicitly (token and ?reveal=true) gets the key itself.
    const revealed = await fetch(`${urls.proxy}/keys?reveal=true`, {
      headers: bearer(secrets.adminToken),
    });
    assert.ok((await revealed.text()).includes(secrets.srtpKey));
    // Let the failed camera pull be logged.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  });

  it('no secret appears in any log, admin view, metric or error', async () => {
    for (const [role, paths] of Object.entries(views) as [keyof RoleUrls, readonly string[]][]) {
      for (const path of paths) {
        const response = await fetch(`${urls[role]}${path}`);
        outputs.push({ where: `${role} GET ${path}`, text: await response.text() });
      }
    }
    outputs.push({ where: 'up stdout', text: up.stdout() });
    outputs.push({ where: 'up stderr (--verbose: every role)', text: up.stderr() });
    const logFile = join(state, 'streammesh', 'up.log');
    assert.ok(existsSync(logFile), "up writes its roles' log file in the state directory");
    outputs.push({ where: 'up.log', text: readFileSync(logFile, 'utf8') });

    // The roles logged at debug level: the searched text is not empty talk.
    assert.ok(up.stderr().length > 2_000, 'the roles logged at debug level');
    const found: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      for (const { where, text } of outputs) {
        if (text.includes(value)) found.push(`${name} in ${where}`);
      }
    }
    for (const { where, text } of outputs) {
      if (/PRIVATE KEY/.test(text)) found.push(`a PEM private key in ${where}`);
    }
    assert.deepEqual(found, [], `secrets leaked:\n${found.join('\n')}`);
  });

  it('the state directory keeps private keys and tokens unreadable by others', () => {
    const loose: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        const stat = statSync(path);
        if (stat.isDirectory()) walk(path);
        else if (/token|root\.pem|key/.test(entry) && (stat.mode & 0o077) !== 0) loose.push(path);
      }
    };
    walk(state);
    assert.deepEqual(loose, []);
  });
});
