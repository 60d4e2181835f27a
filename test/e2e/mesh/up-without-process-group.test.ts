/**
 * `streammesh up` where the process-group addon is not built: each role in
 * a session of its own (fork's `detached`, setsid), so that a terminal's
 * Ctrl-C still reaches `up` alone, and `up` says once why. The addon is
 * hidden by a preload, given in NODE_OPTIONS so that the roles have it too,
 * that makes every `.node` file fail to load, as on a machine where
 * `npm install` could not build it (a fake of "not built", as in
 * test/integration/relay/udp-io.test.ts: building it away here would take it
 * from the other tests). The roles are real and serve.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getJson } from '../../helpers/http.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import {
  childPids,
  isAlive,
  processGroups,
  startStreammesh,
  waitAllRolesReady,
  type Running,
} from '../../helpers/process.js';

const FALLBACK =
  /^up: the process-group addon is not loaded \(.*native addons hidden by the test.*\); each role runs in a session of its own/gm;

describe('streammesh up without the process-group addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-no-group-'));
  let up: Running;
  let urls: Map<string, string>;

  before(async () => {
    const preload = join(dir, 'no-native.cjs');
    writeFileSync(
      preload,
      "require('node:module')._extensions['.node'] = () => { throw new Error('native addons hidden by the test'); };\n",
    );
    // setsid: up leads a group of its own, which the Ctrl-C below is sent to as a terminal would.
    up = startStreammesh(
      ['up', '--config', writeTempConfig(ephemeralMeshConfig())],
      {
        NODE_OPTIONS: `--require ${preload}`,
        // The suite's native pass asks for the addons this test hides: the proxy takes its fallbacks.
        STREAMMESH_PROXY_UDP_IO: 'dgram',
        STREAMMESH_PROXY_SRTP_ENGINE: 'node',
      },
      ['setsid'],
    );
    urls = await waitAllRolesReady(up, 15_000);
  });

  after(async () => {
    await up.stop('SIGKILL', 1_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('says once that the addon is missing and what it does instead', () => {
    assert.equal([...up.stdout().matchAll(FALLBACK)].length, 1, up.stdout());
  });

  it('runs each role in a session of its own, and each serves', async () => {
    const upPid = up.child.pid ?? 0;
    const upGroups = processGroups(upPid);
    assert.deepEqual(upGroups, { group: upPid, session: upPid }, 'up under setsid');
    const roles = childPids(upPid);
    assert.equal(roles.length, 3, `children: ${roles.join(', ')}`);
    for (const pid of roles) {
      assert.deepEqual(processGroups(pid), { group: pid, session: pid }, `pid ${pid}`);
    }
    for (const [role, url] of urls) {
      assert.equal((await getJson(`${url}/healthz`)).status, 200, role);
    }
  });

  it("a Ctrl-C to up's process group stops every role and up exits 0, leaving no process", async () => {
    const upPid = up.child.pid ?? 0;
    const roles = childPids(upPid);
    assert.equal(roles.length, 3);
    const exited = new Promise<number | null>((resolve) => up.child.once('exit', resolve));
    process.kill(-upPid, 'SIGINT');
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ]);
    assert.equal(code, 0, up.stdout());
    assert.match(up.stdout(), /^stopped$/m);
    for (const pid of roles) assert.equal(isAlive(pid), false, `role ${pid} left behind`);
  });
});
