/**
 * `streammesh up` with signaling.instances: one config, two signaling nodes,
 * each on its own loopback address with the same ports (the bind host keeps
 * the port). Both are named by their id in the banner with their own demo
 * page and WHEP URLs, register with the control plane under their ids, are
 * restarted on their own addresses when killed, and stop with the rest on
 * Ctrl-C.
 *
 * The signaling ports are fixed (that two nodes share them is the point);
 * everything else listens on port 0.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { getJson, getText, tryGetJson, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { isAlive, startStreammesh, waitFor, type Running } from '../../helpers/process.js';

const PORTS = { admin: 18503, listen: 18443, cascade: 18444 };
const NODES = [
  { id: 'sfu-a', host: '127.0.0.21' },
  { id: 'sfu-b', host: '127.0.0.22' },
] as const;

const config = [
  'logLevel: info',
  'controlPlane:',
  '  admin: 127.0.0.1:0',
  '  grpc: 127.0.0.1:0',
  '  heartbeatIntervalMs: 200',
  'proxy:',
  '  admin: 127.0.0.1:0',
  '  rtsp:',
  '    listen: 127.0.0.1:0',
  'signaling:',
  // The hosts here are replaced by each instance's: only the ports count.
  `  admin: 127.0.0.1:${PORTS.admin}`,
  `  listen: 127.0.0.1:${PORTS.listen}`,
  `  cascade: { listen: 127.0.0.1:${PORTS.cascade} }`,
  '  workers: 1',
  // One range for both: each node binds it on its own address.
  '  rtcPorts: { start: 47000, end: 47099 }',
  '  instances:',
  ...NODES.map(({ id, host }) => `    - { id: ${id}, host: ${host} }`),
].join('\n');

/** What `up` printed for one node: its ready line and the URLs under it. */
interface Banner {
  readonly admin: string;
  readonly urls: ReadonlyMap<string, string>;
}

function banner(output: string, name: string): Banner | undefined {
  const block = new RegExp(`^${name} +ready +(\\S+)\\n((?: {14}\\S.*\\n)*)`, 'm').exec(output);
  if (block === null) return undefined;
  const urls = new Map(
    [...(block[2] ?? '').matchAll(/^ +(\S+(?: \S+)*) {2,}(\S+)$/gm)].map((line) => [
      line[1] ?? '',
      line[2] ?? '',
    ]),
  );
  return { admin: block[1] ?? '', urls };
}

/** Every process under `parent` (children, and their children: mediasoup workers). */
function descendants(parent: number): number[] {
  let children: number[];
  try {
    children = execFileSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
  return children.flatMap((pid) => [pid, ...descendants(pid)]);
}

describe('streammesh up with signaling.instances', { timeout: 120_000 }, () => {
  let up: Running;
  const banners = new Map<string, Banner>();
  let controlPlane = '';

  before(async () => {
    up = startStreammesh(['up', '--config', writeTempConfig(config)]);
    for (const name of ['control-plane', 'proxy', ...NODES.map(({ id }) => id)]) {
      // A node's URLs are printed with its ready line; wait for the whole block.
      const printed = await waitFor(
        () => {
          const found = banner(up.stdout(), name);
          return found !== undefined && (name === 'control-plane' || found.urls.size > 0)
            ? found
            : undefined;
        },
        30_000,
        () => `${name}'s ready line, got:\n${up.stdout()}\n${up.stderr().slice(-2000)}`,
      );
      banners.set(name, printed);
    }
    controlPlane = banners.get('control-plane')?.admin ?? '';
  });

  after(async () => {
    await up.stop('SIGKILL', 1_000);
  });

  it('prints each node by its id, ready on its own address with the shared port', () => {
    assert.equal(up.stdout().match(/^signaling +ready/m), null, 'no node named after the role');
    for (const { id, host } of NODES) {
      assert.equal(banners.get(id)?.admin, `http://${host}:${PORTS.admin}`, id);
    }
  });

  it("prints each node's own demo page and WHEP demo URLs, and both serve the page", async () => {
    const pages = new Set<string>();
    for (const { id, host } of NODES) {
      const urls = banners.get(id)?.urls;
      const page = urls?.get('demo page');
      assert.equal(page, `http://${host}:${PORTS.listen}/`, id);
      assert.equal(urls?.get('WHEP demo'), `http://${host}:${PORTS.listen}/whep/demo`, id);
      pages.add(page);
      const answer = await getText(page);
      assert.equal(answer.status, 200, id);
      assert.match(answer.text, /<html/i, id);
    }
    assert.equal(pages.size, NODES.length);
  });

  it('both nodes answer /readyz (their first config came from the control plane)', async () => {
    for (const { id } of NODES) {
      await waitReady(banners.get(id)?.admin ?? '', () => up.stderr(), 10_000);
    }
  });

  it("the control plane's /nodes lists both signaling nodes by id, connected", async () => {
    const signaling = await waitFor(async () => {
      const { body } = await getJson<{ nodes: { id: string; role: string; state: string }[] }>(
        `${controlPlane}/nodes`,
      );
      const found = body.nodes
        .filter((node) => node.role === 'ROLE_SIGNALING' && node.state === 'connected')
        .map((node) => node.id)
        .sort();
      return found.length === NODES.length ? found : undefined;
    }, 10_000);
    assert.deepEqual(
      signaling,
      NODES.map(({ id }) => id),
    );
  });

  it('restarts a killed node on its own address; the other node is undisturbed', async () => {
    const [a, b] = NODES;
    const urlA = banners.get(a.id)?.admin ?? '';
    const urlB = banners.get(b.id)?.admin ?? '';
    const pidA = (await getJson<{ pid: number }>(`${urlA}/healthz`)).body.pid;
    const pidB = (await getJson<{ pid: number }>(`${urlB}/healthz`)).body.pid;
    process.kill(pidB, 'SIGKILL');
    await up.waitForOutput(
      new RegExp(
        `^${b.id} +ready +http://${b.host.replaceAll('.', '\\.')}:${PORTS.admin} \\(restarted\\)$`,
        'm',
      ),
      20_000,
    );
    await waitFor(async () => {
      const health = await tryGetJson<{ pid: number }>(`${urlB}/healthz`);
      return health !== undefined && health.body.pid !== pidB ? true : undefined;
    }, 5_000);
    await waitReady(urlB, () => up.stderr(), 10_000);
    assert.equal((await getJson<{ pid: number }>(`${urlA}/healthz`)).body.pid, pidA);
    assert.doesNotMatch(up.stdout(), new RegExp(`^${a.id} (exited|.*\\(restarted\\))`, 'm'));
  });

  it('Ctrl-C (SIGINT) stops every node and the control plane, leaving no process', async () => {
    const processes = descendants(up.child.pid ?? 0);
    // The control plane, the proxy, both signaling nodes and their mediasoup workers.
    assert.ok(processes.length >= 2 + NODES.length * 2, `processes: ${processes.join(', ')}`);
    const { code, ms } = await up.stop('SIGINT', 15_000);
    assert.equal(code, 0, `exit after Ctrl-C:\n${up.stdout()}\n${up.stderr().slice(-2000)}`);
    assert.ok(ms < 10_000, `took ${ms} ms`);
    assert.match(up.stdout(), /^stopped$/m);
    await waitFor(
      () => (processes.every((pid) => !isAlive(pid)) ? true : undefined),
      5_000,
      () => `left behind: ${processes.filter(isAlive).join(', ')}`,
    );
    for (const { id } of NODES) {
      assert.equal(await tryGetJson(`${banners.get(id)?.admin ?? ''}/healthz`), undefined, id);
    }
  });
});
