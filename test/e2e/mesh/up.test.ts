/**
 * `streammesh up` as a user runs it: three roles as child processes, each in
 * a process group of its own in up's session, ready lines with admin URLs,
 * restart of a crashed role, clean stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { getJson, getText, tryGetJson, waitReady } from '../../helpers/http.js';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import {
  binPath,
  childPids,
  isAlive,
  processGroups,
  startStreammesh,
  waitAllRolesReady,
  waitFor,
  type Running,
} from '../../helpers/process.js';

/** "/autogroup-N nice 0", or undefined on a kernel without autogroup. */
function autogroupOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8');
  } catch {
    return undefined;
  }
}

describe('streammesh up', () => {
  let up: Running;
  let urls: Map<string, string>;

  before(async () => {
    const started = Date.now();
    up = startStreammesh(['up', '--config', writeTempConfig(ephemeralMeshConfig())]);
    urls = await waitAllRolesReady(up, 10_000);
    assert.ok(Date.now() - started < 10_000);
  });

  after(async () => {
    await up.stop('SIGKILL', 1_000);
  });

  it('prints one ready line per role with its admin URL', () => {
    assert.deepEqual([...urls.keys()].sort(), ['control-plane', 'proxy', 'signaling']);
    for (const url of urls.values()) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("runs each role in a process group of its own, in up's session", () => {
    const upPid = up.child.pid ?? 0;
    const roles = childPids(upPid);
    assert.equal(roles.length, 3, `children: ${roles.join(', ')}`);
    for (const pid of roles) {
      // Its own group: a Ctrl-C reaches up alone. Up's session: one scheduling
      // group under Linux's autogroup (src/shared/process-group.ts).
      assert.deepEqual(
        processGroups(pid),
        { group: pid, session: processGroups(upPid).session },
        `pid ${pid}`,
      );
      assert.equal(autogroupOf(pid), autogroupOf(upPid), `pid ${pid}`);
    }
  });

  it('every role answers /healthz, /readyz and /metrics', async () => {
    const proxy = urls.get('proxy') ?? '';
    for (const [role, url] of urls) {
      assert.equal((await getJson(`${url}/healthz`)).status, 200, role);
      // Nodes are ready once their first config arrived from the control plane.
      await waitReady(url, () => up.stderr(), 5_000);
      const metrics = await getText(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /process_cpu_user_seconds_total/);
      assert.match(metrics.text, new RegExp(`role="${role}"`));
    }
    const proxyMetrics = await getText(`${proxy}/metrics`);
    assert.match(proxyMetrics.text, /streammesh_node_control_plane_connected\{role="proxy"\} 1/);
    const cpMetrics = await getText(`${urls.get('control-plane') ?? ''}/metrics`);
    assert.match(
      cpMetrics.text,
      /streammesh_control_plane_nodes\{node_role="ROLE_PROXY",state="connected",role="control-plane"\} 1/,
    );
  });

  it('the proxy and the signaling node registered with the control plane', async () => {
    const { body } = await getJson<{ nodes: { role: string; state: string }[] }>(
      `${urls.get('control-plane') ?? ''}/nodes`,
    );
    assert.deepEqual(body.nodes.map((node) => `${node.role} ${node.state}`).sort(), [
      'ROLE_PROXY connected',
      'ROLE_SIGNALING connected',
    ]);
  });

  it('restarts a role killed with SIGKILL, on the same admin URL', async () => {
    const proxyUrl = urls.get('proxy') ?? '';
    const { body } = await getJson<{ pid: number }>(`${proxyUrl}/healthz`);
    assert.ok(childPids(up.child.pid ?? 0).includes(body.pid));
    process.kill(body.pid, 'SIGKILL');
    await up.waitForOutput(/^proxy +ready +\S+ \(restarted\)$/m, 10_000);
    const restarted = await waitFor(async () => {
      const health = await tryGetJson<{ pid: number }>(`${proxyUrl}/healthz`);
      return health !== undefined && health.body.pid !== body.pid ? health.body.pid : undefined;
    }, 5_000);
    assert.ok(isAlive(restarted));
    await waitReady(proxyUrl, () => up.stderr(), 5_000);
  });

  it('SIGTERM ends every child within 5 s and exits 0, leaving no process', async () => {
    const children = childPids(up.child.pid ?? 0);
    assert.equal(children.length, 3);
    const { code, ms } = await up.stop('SIGTERM', 10_000);
    assert.equal(code, 0);
    assert.ok(ms < 5_000, `took ${ms} ms`);
    for (const pid of children) assert.equal(isAlive(pid), false, `child ${pid} left behind`);
  });
});

describe('streammesh up when the supervisor itself is killed', () => {
  it('leaves no orphan: the roles notice and exit', async () => {
    const up = startStreammesh(['up', '--config', writeTempConfig(ephemeralMeshConfig())]);
    await waitAllRolesReady(up, 10_000);
    const children = childPids(up.child.pid ?? 0);
    assert.equal(children.length, 3);
    await up.stop('SIGKILL', 1_000);
    await waitFor(
      () => (children.every((pid) => !isAlive(pid)) ? true : undefined),
      5_000,
      () => `children still alive: ${children.filter(isAlive).join(', ')}`,
    );
  });
});

describe('a role whose supervisor went while it started', () => {
  it('stops rather than run on as an orphan', async () => {
    // Forked as `up` forks it, with an IPC channel that closes at once: the
    // role hears no 'disconnect' (it has no listener yet) and must see it.
    const role = fork(
      binPath,
      ['control-plane', '--config', writeTempConfig(ephemeralMeshConfig())],
      {
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      },
    );
    role.disconnect();
    const pid = role.pid ?? 0;
    try {
      await waitFor(
        () => (isAlive(pid) ? undefined : true),
        15_000,
        () => `pid ${pid} still runs`,
      );
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
