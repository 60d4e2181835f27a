/**
 * Issue 14, points 1 and 2, against real processes: a control plane and a
 * proxy started with `streammesh <role> --config`, their token file in a
 * private state directory (XDG_STATE_HOME), as `up` runs them.
 *
 * - The control plane creates the token file (0600 in a 0700 directory) and
 *   logs its path, never the token; the proxy reads the same file.
 * - PUT /config without the token (or with a wrong one) is 401, answered
 *   before the body is sent, and changes no version on the control plane or
 *   the proxy; with the token it is in force on the proxy.
 * - Hostile bodies (`[` x 500,000 + `]` x 500,000, deep YAML block nesting,
 *   a deep JSON object, and a flat 1 MiB mapping that keeps `yaml` busy for
 *   seconds) are 400 with a clear message, the process lives, its event loop
 *   is never held 50 ms, and a legitimate client on 127.0.0.2 is served
 *   throughout.
 * - GET /keys on the proxy: 401 without the token; with it, fingerprints and
 *   no key material; with ?reveal=true, the keys. GET /config on the control
 *   plane shows the config with its secrets redacted; in full only with
 *   ?reveal=true and the token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bearer } from '../../helpers/admin-token.js';
import { getJson, putText, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { isAlive, startStreammesh, waitFor, type Running } from '../../helpers/process.js';

/** The worst event-loop delay since the previous scrape (prom-client resets it on each). */
async function eventLoopMaxSeconds(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const match = /^nodejs_eventloop_lag_max_seconds\{[^}]*\} (\S+)$/m.exec(text);
  assert.ok(match?.[1], 'nodejs_eventloop_lag_max_seconds is exported');
  return Number(match[1]);
}

/** GET /healthz from 127.0.0.2 every 20 ms until stopped; resolves the slowest answer's ms. */
function legitimateUser(port: number): { stop(): Promise<{ worstMs: number; answers: number }> } {
  const state = { running: true };
  let worstMs = 0;
  let answers = 0;
  const loop = (async () => {
    while (state.running) {
      const started = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        const get = request(
          { host: '127.0.0.1', port, path: '/healthz', localAddress: '127.0.0.2', agent: false },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        get.on('error', reject);
        get.end();
      });
      assert.equal(status, 200);
      answers += 1;
      worstMs = Math.max(worstMs, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      state.running = false;
      await loop;
      return { worstMs, answers };
    },
  };
}

function deepYamlBlocks(levels: number): string {
  const lines: string[] = [];
  for (let level = 0; level < levels; level += 1) lines.push(`${' '.repeat(level)}k${level}:`);
  return `${lines.join('\n')} 1\n`;
}

describe('admin credentials and bounded parsing, against real processes', () => {
  const stateHome = mkdtempSync(join(tmpdir(), 'streammesh-state-'));
  const tokenFile = join(stateHome, 'streammesh', 'admin-token');
  // Roles read the token from the file only: no variable leaks in from the test's environment.
  const env: Record<string, string> = { XDG_STATE_HOME: stateHome, STREAMMESH_ADMIN_TOKEN: '' };
  let controlPlane: Running;
  let proxy: Running;
  let controlPlaneUrl: string;
  let proxyUrl: string;
  let adminPort: number;
  let token: string;
  const rtspPassword = 'a-password-only-token-holders-see';
  const config = (logLevel: string): string =>
    [
      `logLevel: ${logLevel}`,
      'controlPlane: { heartbeatIntervalMs: 200 }',
      'proxy:',
      `  rtsp: { enabled: false, auth: { users: [{ user: viewer, password: ${rtspPassword} }] } }`,
      '  routes:',
      '    - name: secret',
      '      listen: 127.0.0.1:0',
      '      srtp: { profile: AES_CM_128_HMAC_SHA1_80, key: generate }',
      '      destinations: [{ address: 127.0.0.1:9 }]',
      '',
    ].join('\n');

  before(async () => {
    adminPort = await freePort();
    const proxyPort = await freePort();
    Object.assign(env, {
      STREAMMESH_CONTROL_PLANE_ADMIN: `127.0.0.1:${adminPort}`,
      STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${await freePort()}`,
      STREAMMESH_PROXY_ADMIN: `127.0.0.1:${proxyPort}`,
    });
    controlPlaneUrl = `http://127.0.0.1:${adminPort}`;
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    const file = writeTempConfig(config('info'));
    controlPlane = startStreammesh(['control-plane', '--config', file], env);
    await waitReady(controlPlaneUrl, () => controlPlane.stderr() + controlPlane.stdout());
    proxy = startStreammesh(['proxy', '--config', file], env);
    await waitReady(proxyUrl, () => proxy.stderr() + proxy.stdout());
    token = readFileSync(tokenFile, 'utf8').trim();
  });

  after(async () => {
    await Promise.all([proxy.stop('SIGTERM', 5_000), controlPlane.stop('SIGTERM', 5_000)]);
  });

  it('the control plane created a private token file and logged its path, never the token', () => {
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(stateHome, 'streammesh')).mode & 0o777, 0o700);
    assert.ok(token.length >= 32, 'a long random token');
    assert.ok(controlPlane.stdout().includes(tokenFile), 'the startup line names the file');
    for (const role of [controlPlane, proxy]) {
      assert.ok(!(role.stdout() + role.stderr()).includes(token), 'the token is in no log');
    }
  });

  it('PUT /config without a valid token is 401 and changes nothing; with it, it is in force', async () => {
    const planeBefore = (await getJson<{ version: string }>(`${controlPlaneUrl}/config`)).body;
    const proxyBefore = (await getJson<{ version: string }>(`${proxyUrl}/config_dump`)).body;
    const anonymous = await putText<{ error: string }>(`${controlPlaneUrl}/config`, config('warn'));
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body.error, /needs the admin token/);
    const wrong = await putText(`${controlPlaneUrl}/config`, config('warn'), `${token}x`);
    assert.equal(wrong.status, 401);
    // Long enough for a push to reach the proxy, had one been made.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(
      (await getJson<{ version: string }>(`${controlPlaneUrl}/config`)).body.version,
      planeBefore.version,
    );
    assert.equal(
      (await getJson<{ version: string }>(`${proxyUrl}/config_dump`)).body.version,
      proxyBefore.version,
    );

    const put = await putText<{ version: string; changed: boolean }>(
      `${controlPlaneUrl}/config`,
      config('warn'),
      token,
    );
    assert.equal(put.status, 200);
    assert.equal(put.body.changed, true);
    const applied = await waitFor(async () => {
      const dump = await getJson<{ version: string; config: { logLevel: string } }>(
        `${proxyUrl}/config_dump`,
      );
      return dump.body.version === put.body.version ? dump.body : undefined;
    }, 5_000);
    assert.equal(applied.config.logLevel, 'warn');
    const metrics = await (await fetch(`${controlPlaneUrl}/metrics`)).text();
    assert.match(metrics, /streammesh_admin_unauthorized_requests_total\{[^}]*\} 2$/m);
  });

  it('answers 401 before the body is sent', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(adminPort, '127.0.0.1');
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('close', () => resolve(received));
      socket.setTimeout(2_000, () => socket.destroy());
      // A head announcing a large body, and not one byte of it.
      socket.write(
        'PUT /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\nContent-Length: 900000\r\n\r\n',
      );
    });
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /www-authenticate: Bearer/i);
    assert.match(answer, /connection: close/i);
  });

  const hostile: [string, () => string][] = [
    ['[ x 500,000 then ] x 500,000', () => `${'['.repeat(500_000)}${']'.repeat(500_000)}`],
    ['compact YAML sequences 500,000 deep', () => `${'- '.repeat(500_000)}x\n`],
    ['YAML block mappings 1,300 deep', () => deepYamlBlocks(1_300)],
    ['a JSON object 150,000 deep', () => `${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}`],
  ];
  for (const [name, body] of hostile) {
    it(`refuses ${name} with 400 in under 1 s, the loop never held 50 ms`, async (t) => {
      const text = body();
      assert.ok(Buffer.byteLength(text) <= 1024 * 1024, 'within the body limit');
      await eventLoopMaxSeconds(controlPlaneUrl); // resets the maximum
      const user = legitimateUser(adminPort);
      const started = performance.now();
      const put = await putText<{ error: string }>(`${controlPlaneUrl}/config`, text, token);
      const elapsedMs = performance.now() - started;
      const served = await user.stop();
      assert.equal(put.status, 400);
      assert.match(put.body.error, /^PUT \/config: nesting deeper than \d+ levels at line \d+/);
      const lagMs = (await eventLoopMaxSeconds(controlPlaneUrl)) * 1000;
      t.diagnostic(
        `answered in ${elapsedMs.toFixed(0)} ms; loop max ${lagMs.toFixed(1)} ms; ` +
          `127.0.0.2 worst ${served.worstMs.toFixed(1)} ms over ${served.answers} answers`,
      );
      assert.ok(elapsedMs < 1_000, `answered in ${elapsedMs.toFixed(0)} ms`);
      assert.ok(lagMs < 50, `event loop held ${lagMs.toFixed(1)} ms`);
      assert.ok(served.answers > 0 && served.worstMs < 200, JSON.stringify(served));
      assert.ok(isAlive(controlPlane.child.pid ?? 0));
    });
  }

  it('a flat 1 MiB mapping, which keeps the YAML parser busy for seconds, is refused off the event loop', async (t) => {
    const lines: string[] = [];
    let size = 0;
    for (let index = 0; size < 1_000_000; index += 1) {
      const line = `k${index}: ${index}`;
      lines.push(line);
      size += line.length + 1;
    }
    await eventLoopMaxSeconds(controlPlaneUrl);
    const user = legitimateUser(adminPort);
    const put = await putText<{ error: string }>(
      `${controlPlaneUrl}/config`,
      `${lines.join('\n')}\n`,
      token,
    );
    const served = await user.stop();
    assert.equal(put.status, 400);
    assert.match(put.body.error, /^PUT \/config: took longer than \d+ ms to parse; refused/);
    const lagMs = (await eventLoopMaxSeconds(controlPlaneUrl)) * 1000;
    t.diagnostic(
      `loop max ${lagMs.toFixed(1)} ms; 127.0.0.2 worst ${served.worstMs.toFixed(1)} ms over ${served.answers} answers`,
    );
    assert.ok(lagMs < 50, `event loop held ${lagMs.toFixed(1)} ms`);
    assert.ok(served.answers > 20 && served.worstMs < 200, JSON.stringify(served));
    assert.equal((await getJson(`${controlPlaneUrl}/healthz`)).status, 200);
  });

  it('GET /config (and a node /config_dump) hide secrets; ?reveal=true shows them to token holders only', async () => {
    const open = await (await fetch(`${controlPlaneUrl}/config`)).text();
    assert.ok(!open.includes(rtspPassword), 'no password without the token');
    assert.match(open, /"password": "\(redacted\)"/);
    assert.equal((await fetch(`${controlPlaneUrl}/config?reveal=true`)).status, 401);
    const revealed = await fetch(`${controlPlaneUrl}/config?reveal=true`, {
      headers: bearer(token),
    });
    assert.equal(revealed.status, 200);
    assert.ok((await revealed.text()).includes(rtspPassword));
    // The proxy's /config_dump shows the same config the same way.
    const dump = await (await fetch(`${proxyUrl}/config_dump`)).text();
    assert.ok(!dump.includes(rtspPassword), 'no password in the node config dump');
    assert.match(dump, /"password": "\(redacted\)"/);
  });

  it('GET /keys: 401 without the token, fingerprints with it, key material only with reveal', async () => {
    assert.equal((await fetch(`${proxyUrl}/keys`)).status, 401);
    const summary = (await (
      await fetch(`${proxyUrl}/keys`, { headers: bearer(token) })
    ).json()) as { keys: Record<string, unknown>[] };
    assert.equal(summary.keys.length, 1);
    const [key] = summary.keys;
    assert.equal(key?.['route'], 'secret');
    assert.equal(key['profile'], 'AES_CM_128_HMAC_SHA1_80');
    assert.match(String(key['fingerprint']), /^[0-9a-f]{16}$/);
    assert.ok(!('inline' in key), 'no key material without reveal');
    const revealed = (await (
      await fetch(`${proxyUrl}/keys?reveal=true`, { headers: bearer(token) })
    ).json()) as { keys: { inline: string; fingerprint: string }[] };
    const [shown] = revealed.keys;
    assert.ok(shown !== undefined && shown.inline.length >= 40, 'the inline key is shown');
    assert.equal(shown.fingerprint, key['fingerprint']);
    assert.equal((await fetch(`${proxyUrl}/keys?reveal=true`)).status, 401);
  });
});
