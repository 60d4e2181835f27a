/**
 * Docs that run. Every file in examples/ is started the way its header says,
 * with the peers it needs, and the shell commands of its header and of the
 * README are run as written — in bash, from the repository (or from a scratch
 * directory holding the files they name), each bounded in time and ended
 * with Ctrl-C (SIGINT to its process group) when it would run on — and what
 * they print or deliver is checked. The examples' ports are fixed and the
 * commands depend on them, so nothing is moved: each example waits for its
 * ports to be free and fails naming any that stays taken.
 *
 * The last test reads every command back out of the README and examples/ and
 * fails for one that no test here ran, unless it is a placeholder (<that
 * path>) or an npm script (checked to exist: the suite runs them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getJson, getText, waitReady } from '../../helpers/http.js';
import {
  clientAgent,
  http2Session,
  send,
  send2,
  startBackend,
  type Backend,
} from '../../helpers/l7-harness.js';
import { canBindTcp, canBindUdp } from '../../helpers/ports.js';
import { repoRoot, waitFor } from '../../helpers/process.js';
import { WhipPublisher, WhepViewer } from '../../helpers/peers/werift-whip.js';

// ---------------------------------------------------------------------------
// Commands as a user types them

/** Every documented command some test here ran, as written in the docs. */
const ran = new Set<string>();

/**
 * A scratch home for what the commands keep: `up` its token and log under
 * ~/.local/state (through XDG_STATE_HOME, which it prefers), the commands
 * the files they write. HOME itself stays: in a HOME without npx's cache,
 * `npx streammesh` first installs the repository (its prepare script builds
 * dist/ while tests run from it).
 */
const home = mkdtempSync(join(tmpdir(), 'streammesh-docs-'));

function userEnvironment(): NodeJS.ProcessEnv {
  // The docs' commands run with no overrides but what they show themselves.
  const inherited = Object.entries(process.env).filter(
    ([name]) => !name.startsWith('STREAMMESH_') && name !== 'XDG_STATE_HOME',
  );
  return {
    ...Object.fromEntries(inherited),
    XDG_STATE_HOME: join(home, '.local/state'),
    // npx in a fresh HOME would otherwise ask the registry for a newer npm.
    npm_config_update_notifier: 'false',
    // ffplay opens no window and no sound device here; it still decodes and plays.
    SDL_VIDEODRIVER: 'dummy',
    SDL_AUDIODRIVER: 'dummy',
  };
}

interface ShellExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Shell {
  stdout(): string;
  /** stderr, with ffmpeg's carriage-return progress lines split into lines. */
  stderr(): string;
  readonly exited: Promise<ShellExit>;
  waitFor(
    pattern: RegExp,
    timeoutMs: number,
    stream?: 'stdout' | 'stderr',
  ): Promise<RegExpMatchArray>;
  /** Ctrl-C: SIGINT to the command's process group; SIGKILL to it if still there after `graceMs`. */
  interrupt(graceMs?: number): Promise<ShellExit>;
}

const groups = new Set<number>();
process.on('exit', () => {
  for (const group of groups) killGroup(group, 'SIGKILL');
});

function killGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // the group is gone
  }
}

/** Marks a command of the docs as run; returns it. */
function documented(command: string): string {
  ran.add(command);
  return command;
}

/**
 * Starts a command in bash, in its own process group as a terminal runs it,
 * killed outright after `timeoutMs` whatever happens.
 */
function startShell(
  command: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Shell {
  const child = spawn('bash', ['-c', command], {
    cwd: options.cwd ?? repoRoot,
    env: { ...userEnvironment(), ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const group = child.pid ?? 0;
  groups.add(group);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const bound = setTimeout(() => killGroup(group, 'SIGKILL'), options.timeoutMs);
  const exited = once(child, 'close').then((args) => {
    clearTimeout(bound);
    groups.delete(group);
    const [code, signal] = args as [number | null, NodeJS.Signals | null];
    return { code, signal };
  });
  const shell: Shell = {
    stdout: () => stdout,
    stderr: () => stderr.replaceAll('\r', '\n'),
    exited,
    waitFor: (pattern, timeoutMs, stream = 'stdout') =>
      waitFor(
        () => (stream === 'stdout' ? stdout : shell.stderr()).match(pattern) ?? undefined,
        timeoutMs,
        () => `\`${command}\` to print ${pattern}:\n${stdout}\n${shell.stderr().slice(-4000)}`,
      ),
    async interrupt(graceMs = 8_000) {
      if (groups.has(group)) killGroup(group, 'SIGINT');
      const kill = setTimeout(() => killGroup(group, 'SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(kill);
      return exit;
    },
  };
  return shell;
}

/** Runs a command that ends by itself, within `timeoutMs`. */
async function runShell(
  command: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ShellExit & { stdout: string; stderr: string }> {
  const shell = startShell(command, { timeoutMs: options.timeoutMs ?? 20_000, ...options });
  const exit = await shell.exited;
  return { ...exit, stdout: shell.stdout(), stderr: shell.stderr() };
}

/** A player, watched for `seconds` and then closed with Ctrl-C, as a person would. */
async function watchWithFfplay(command: string, seconds: number): Promise<void> {
  const player = startShell(documented(command), { timeoutMs: (seconds + 15) * 1_000 });
  await player.waitFor(/Video: h264/, 10_000, 'stderr');
  // ffplay's status line starts with its clock: playing means it passes `seconds - 1`.
  await waitFor(
    () => {
      const clocks = [...player.stderr().matchAll(/^\s*(\d+\.\d+) M-V:/gm)].map((m) =>
        Number(m[1]),
      );
      return Math.max(0, ...clocks) >= seconds - 1 ? true : undefined;
    },
    (seconds + 8) * 1_000,
    () => `${command} to play ${seconds - 1} s:\n${player.stderr().slice(-2000)}`,
  );
  await player.interrupt(3_000);
}

// ---------------------------------------------------------------------------
// The examples' fixed ports

interface Ports {
  readonly tcp: readonly number[];
  readonly udp?: readonly number[];
  /**
   * Loopback addresses of `instances` nodes, which bind the same ports on
   * their own host: the TCP ports are checked there too (a listener on
   * 127.0.0.11:8443 leaves 127.0.0.1:8443 free).
   */
  readonly hosts?: readonly string[];
}

/** What `up` binds with any example: the admin, gRPC, RTSP and signaling defaults. */
const MESH_PORTS: Ports = { tcp: [15100, 15101, 15102, 15103, 8554, 8443] };

/**
 * Waits (at most 30 s: another test may be finishing on them) until every
 * port is free, then fails naming those still taken.
 */
async function needFreePorts(what: string, ports: Ports): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const taken: string[] = [];
    for (const port of [...MESH_PORTS.tcp, ...ports.tcp]) {
      if (!(await canBindTcp(port))) taken.push(`${port}/tcp`);
      for (const host of ports.hosts ?? []) {
        if (!(await canBindTcpOn(host, port))) taken.push(`${host}:${port}/tcp`);
      }
    }
    for (const port of ports.udp ?? []) if (!(await canBindUdp(port))) taken.push(`${port}/udp`);
    if (taken.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} runs on fixed ports, and ${taken.join(', ')} stayed in use for 30 s ` +
          `(see \`ss -ltnup\`): stop what holds them and run this test again`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** canBindTcp on another address than 127.0.0.1. */
async function canBindTcpOn(host: string, port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

// ---------------------------------------------------------------------------
// `up` as the docs run it

const PROXY_ADMIN = 'http://127.0.0.1:15102';

/**
 * Starts a documented `npx streammesh up ...` (as `runAs`, when the command
 * names a file that stands for the reader's) and waits until every role says
 * ready.
 */
async function upAsDocumented(command: string, runAs = command): Promise<Shell> {
  documented(command);
  const up = startShell(runAs, { timeoutMs: 150_000 });
  try {
    for (const role of ['control-plane', 'proxy', 'signaling']) {
      await up.waitFor(new RegExp(`^${role} +ready +http://`, 'm'), 30_000);
    }
    await waitReady(PROXY_ADMIN, () => up.stderr(), 10_000);
  } catch (error) {
    // Free the fixed ports for the examples after this one.
    await up.interrupt(5_000);
    throw error;
  }
  return up;
}

/** Ctrl-C, as the README says: every role stops, `up` prints `stopped` and exits 0. */
async function stopUp(up: Shell): Promise<void> {
  const exit = await up.interrupt(10_000);
  assert.equal(exit.code, 0, `exit after Ctrl-C:\n${up.stdout()}\n${up.stderr().slice(-2000)}`);
  assert.match(up.stdout(), /^stopped$/m);
}

/** A fresh directory to run commands that read or write files in the current one. */
function scratch(name: string): string {
  const dir = join(home, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------
// Reading the docs

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has a "${heading}" section`);
  const level = /^#+/.exec(heading)?.[0] ?? '##';
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return end < 0 ? rest : rest.slice(0, end);
}

/** Joins `\` continuations and drops trailing `# comments`. */
function commandLines(lines: readonly string[]): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of lines) {
    const line = raw.replace(/\s+# .*$/, '').trimEnd();
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trimEnd()} `;
      continue;
    }
    const command = (pending + line.trim()).trim();
    pending = '';
    if (command !== '' && !command.startsWith('#')) commands.push(command);
  }
  return commands;
}

/** The lines of every ```sh block of `text`. */
function shellBlocks(text: string): string[] {
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].flatMap((m) =>
    commandLines((m[1] ?? '').split('\n')),
  );
}

const COMMAND_START = /^(npx |npm |ffplay |ffprobe |ffmpeg |curl |scripts\/|head |STREAMMESH_)/;

/** Commands in the README's prose, as `code` (with arguments: a bare path is not a command). */
function inlineCommands(text: string): string[] {
  return [...text.matchAll(/`([^`\n]+)`/g)]
    .map((m) => m[1] ?? '')
    .filter((code) => COMMAND_START.test(code) && code.includes(' '));
}

const EXAMPLES_DIR = join(repoRoot, 'examples');

function exampleText(file: string): string {
  return readFileSync(join(EXAMPLES_DIR, file), 'utf8');
}

/** The commands of an example's comments: comment lines indented under a `#`. */
function exampleCommands(file: string): string[] {
  const lines = exampleText(file)
    .split('\n')
    .filter((line) => /^#\s{2,}\S/.test(line))
    .map((line) => line.replace(/^#\s+/, ''));
  return commandLines(lines).filter((command) => COMMAND_START.test(command));
}

/** The README's sample of what `up` prints, as blocks (a role's line and the lines under it). */
function bannerBlocks(text: string): string[] {
  const blocks: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const last = blocks.pop();
    if (line.startsWith(' ') && last !== undefined) blocks.push(`${last}\n${line}`);
    else blocks.push(...(last === undefined ? [] : [last]), line);
  }
  return blocks.sort();
}

// ---------------------------------------------------------------------------
// Peers of the examples

interface RtpReceiver {
  readonly port: number;
  /** RTP packets (version 2) received, by SSRC. */
  readonly packets: Map<number, number>;
  /** Payload types seen. */
  readonly payloadTypes: Set<number>;
  close(): void;
}

/** A UDP receiver counting RTP packets, plus a socket on the RTCP port after it. */
async function rtpReceiver(port: number): Promise<RtpReceiver> {
  const bind = async (at: number): Promise<Socket> => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(at, '127.0.0.1', () => resolve());
    });
    return socket;
  };
  const rtp = await bind(port);
  const rtcp = await bind(port + 1);
  const packets = new Map<number, number>();
  const payloadTypes = new Set<number>();
  rtp.on('message', (packet: Buffer) => {
    if (packet.length < 12 || (packet.readUInt8(0) & 0xc0) !== 0x80) return;
    const ssrc = packet.readUInt32BE(8);
    packets.set(ssrc, (packets.get(ssrc) ?? 0) + 1);
    payloadTypes.add(packet.readUInt8(1) & 0x7f);
  });
  return {
    port,
    packets,
    payloadTypes,
    close: () => {
      rtp.close();
      rtcp.close();
    },
  };
}

function total(receiver: RtpReceiver): number {
  return [...receiver.packets.values()].reduce((sum, count) => sum + count, 0);
}

interface RouteView {
  readonly name: string;
  readonly packetsIn: number;
  readonly drops: Readonly<Record<string, number>>;
}

async function route(name: string): Promise<RouteView> {
  const { body } = await getJson<{ routes: RouteView[] }>(`${PROXY_ADMIN}/streams`);
  const found = body.routes.find((r) => r.name === name);
  assert.ok(found, `route ${name} in /streams`);
  return found;
}

// ---------------------------------------------------------------------------

describe('docs that run', { timeout: 600_000 }, () => {
  after(() => {
    clientAgent.destroy();
    for (const group of groups) killGroup(group, 'SIGKILL');
  });

  describe('README quick start: npx streammesh up', () => {
    let up: Shell;
    const quickStart = section('## Quick start');
    const [runLine] = shellBlocks(quickStart);

    before(async () => {
      // The first npx run of a checkout installs it into npx's cache, which
      // builds it (minutes on a new machine): done here, outside the timed waits.
      const warm = await runShell('npx streammesh --help', { timeoutMs: 300_000 });
      assert.equal(warm.code, 0, warm.stderr);
      await needFreePorts('the quick start', { tcp: [] });
      // `npm install && ` is what brought this test here; the rest runs as written.
      assert.equal(runLine, 'npm install && npx streammesh up');
      documented(runLine);
      up = await upAsDocumented('npx streammesh up');
    });

    it('prints what the README shows, with your home directory', async () => {
      const sample = /It\s+prints[\s\S]*?```\n([\s\S]*?)```/.exec(quickStart)?.[1] ?? '';
      const expected = bannerBlocks(sample);
      assert.ok(expected.length >= 4, 'the README shows a sample of the output');
      await waitFor(
        () => (bannerBlocks(up.stdout()).length >= expected.length ? true : undefined),
        5_000,
      );
      const printed = bannerBlocks(up.stdout().replaceAll(home, '/home/you'));
      assert.deepEqual(printed, expected);
    });

    it('keeps the admin token in the file it names, readable by you only', () => {
      const path = /admin token +(\S+)$/m.exec(up.stdout())?.[1] ?? '';
      assert.equal(path, join(home, '.local/state/streammesh/admin-token'));
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.match(readFileSync(path, 'utf8'), /\S{16,}/);
    });

    it('serves the demo camera: ffplay plays it', async () => {
      const [ffplay] = inlineCommands(quickStart).filter((c) => c.startsWith('ffplay '));
      assert.equal(ffplay, 'ffplay rtsp://127.0.0.1:8554/demo');
      await watchWithFfplay(ffplay, 3);
    });

    it('Ctrl-C stops every role: `stopped`, exit 0', async () => {
      await stopUp(up);
    });
  });

  describe('examples/local-mesh.yaml', () => {
    it('runs as the default does, and `config schema` prints every field', async () => {
      await needFreePorts('examples/local-mesh.yaml', { tcp: [] });
      const [upLine, schemaLine] = exampleCommands('local-mesh.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/local-mesh.yaml');
      assert.equal(schemaLine, 'npx streammesh config schema');
      const up = await upAsDocumented(upLine);
      try {
        assert.match(up.stdout(), /^ +demo camera +rtsp:\/\/127\.0\.0\.1:8554\/demo$/m);
        assert.match(up.stdout(), /^ +demo page +http:\/\/127\.0\.0\.1:8443\/$/m);
      } finally {
        await stopUp(up);
      }
      const schema = await runShell(documented(schemaLine));
      assert.equal(schema.code, 0, schema.stderr);
      const parsed = JSON.parse(schema.stdout) as { properties?: Record<string, unknown> };
      assert.deepEqual(Object.keys(parsed.properties ?? {}).sort(), [
        'controlPlane',
        'logLevel',
        'proxy',
        'signaling',
      ]);
    });
  });

  describe('README: running each role alone, and the config commands', () => {
    const roles = section('## Running each role alone');
    const configuration = section('## Configuration');
    // mesh.yaml stands for your file: here, examples/local-mesh.yaml copied.
    // npx finds `streammesh` only in the repository's directory (elsewhere it
    // asks the npm registry, which has no such package), so the commands run
    // there, with the copy's path in place of mesh.yaml.
    const meshYaml = join(scratch('roles'), 'mesh.yaml');
    copyFileSync(join(EXAMPLES_DIR, 'local-mesh.yaml'), meshYaml);
    // 10.0.0.5 is the control plane's machine: here, this one.
    const here = (command: string): string =>
      documented(command)
        .replace(/\bmesh\.yaml\b/, meshYaml)
        .replace('10.0.0.5', '127.0.0.1');

    it('config validate and config schema', async () => {
      const [validate, schema] = shellBlocks(configuration);
      assert.equal(validate, 'npx streammesh config validate mesh.yaml');
      const valid = await runShell(here(validate));
      assert.equal(valid.code, 0, valid.stderr);
      assert.equal(valid.stdout, `${meshYaml}: valid\n`);
      // The same command as in local-mesh.yaml's header, whose test checks its output.
      assert.equal(schema, 'npx streammesh config schema');
    });

    it('control-plane, proxy and signaling started one by one serve as `up` does', async () => {
      await needFreePorts('running each role alone', { tcp: [] });
      const [controlPlane, proxy, signaling, upLine] = shellBlocks(roles);
      assert.equal(controlPlane, 'npx streammesh control-plane --config mesh.yaml');
      assert.equal(
        proxy,
        'STREAMMESH_CONTROL_PLANE=10.0.0.5:15101 npx streammesh proxy --config mesh.yaml',
      );
      assert.equal(
        signaling,
        'STREAMMESH_CONTROL_PLANE=10.0.0.5:15101 npx streammesh signaling --config mesh.yaml',
      );
      const started: Shell[] = [];
      try {
        started.push(startShell(here(controlPlane), { timeoutMs: 90_000 }));
        await waitReady('http://127.0.0.1:15100', () => started[0]?.stderr() ?? '', 20_000);
        started.push(startShell(here(proxy), { timeoutMs: 90_000 }));
        started.push(startShell(here(signaling), { timeoutMs: 90_000 }));
        await waitReady(PROXY_ADMIN, () => started[1]?.stderr() ?? '', 20_000);
        await waitReady('http://127.0.0.1:15103', () => started[2]?.stderr() ?? '', 20_000);
      } finally {
        const exits = await Promise.all(started.map((shell) => shell.interrupt(8_000)));
        // Each stops on Ctrl-C. Exit 0 is promised for `up` only: through npx a
        // role alone was seen (1 run in 3) to end as npm re-raising SIGINT.
        for (const exit of exits) {
          assert.ok(exit.code === 0 || exit.signal === 'SIGINT', JSON.stringify(exit));
        }
      }
      assert.equal(upLine, 'npx streammesh up --config mesh.yaml');
      await needFreePorts('up --config mesh.yaml', { tcp: [] });
      await stopUp(await upAsDocumented(upLine, here(upLine)));
    });
  });

  describe('examples/rtp-relay.yaml', () => {
    it('relays what the header’s ffmpeg sends on 5004 to both receivers', async () => {
      await needFreePorts('examples/rtp-relay.yaml', {
        tcp: [],
        udp: [5004, 5005, 5006, 5007, 5008, 5009],
      });
      const [upLine, sender] = exampleCommands('rtp-relay.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/rtp-relay.yaml');
      assert.ok(shellBlocks(readme).includes(upLine), 'the README shows the same command');
      const receivers = await Promise.all([5006, 5008].map(rtpReceiver));
      const up = await upAsDocumented(upLine);
      try {
        assert.match(sender ?? '', /^ffmpeg .* rtp:\/\/127\.0\.0\.1:5004 -sdp_file relay\.sdp$/);
        const ffmpeg = startShell(documented(sender ?? ''), {
          cwd: scratch('relay'),
          timeoutMs: 30_000,
        });
        await waitFor(
          () => (receivers.every((r) => total(r) >= 100) ? true : undefined),
          15_000,
          () => `100 packets at each receiver:\n${ffmpeg.stderr().slice(-2000)}`,
        );
        await ffmpeg.interrupt(5_000);
        assert.match(
          readFileSync(join(home, 'relay', 'relay.sdp'), 'utf8'),
          /^m=video 5004 RTP\/AVP 96/m,
        );
        const [first, second] = receivers.map((r) => [...r.packets.keys()]);
        assert.equal(first?.length, 1, 'one stream');
        assert.deepEqual(first, second, 'the same SSRC at both receivers');
        const relay = await route('camera-relay');
        assert.ok(relay.packetsIn >= 100);
      } finally {
        receivers.forEach((r) => r.close());
        await stopUp(up);
      }
    });
  });

  describe('examples/srtp-bridge.yaml', () => {
    it('the header’s ffmpeg SRTP into 5010 comes out as RTP on 5012', async () => {
      await needFreePorts('examples/srtp-bridge.yaml', {
        tcp: [],
        udp: [5010, 5011, 5012, 5013, 5014, 5015, 5016, 5017],
      });
      const [upLine, sender, keyLine] = exampleCommands('srtp-bridge.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/srtp-bridge.yaml');
      const receiver = await rtpReceiver(5012);
      const up = await upAsDocumented(upLine);
      try {
        assert.match(
          sender ?? '',
          /^ffmpeg .*-srtp_out_suite AES_CM_128_HMAC_SHA1_80 .* srtp:\/\/127\.0\.0\.1:5010$/,
        );
        const ffmpeg = startShell(documented(sender ?? ''), {
          cwd: scratch('srtp'),
          timeoutMs: 30_000,
        });
        await waitFor(
          () => (total(receiver) >= 100 ? true : undefined),
          15_000,
          () => `100 RTP packets on 5012:\n${ffmpeg.stderr().slice(-2000)}`,
        );
        await ffmpeg.interrupt(5_000);
        assert.deepEqual([...receiver.payloadTypes], [96]);
        const bridge = await route('srtp-to-rtp');
        assert.ok(bridge.packetsIn >= 100);
        // Every packet authenticated with the example's key: none dropped for it.
        assert.equal(bridge.drops['srtp_auth_failed'] ?? 0, 0);
      } finally {
        receiver.close();
        await stopUp(up);
      }
      // "make your own" key: what the command prints is a valid key for the file.
      assert.equal(keyLine, 'head -c 30 /dev/urandom | base64');
      const key = (await runShell(documented(keyLine))).stdout.trim();
      assert.equal(Buffer.from(key, 'base64').length, 30);
      const own = join(scratch('srtp'), 'own-key.yaml');
      writeFileSync(
        own,
        exampleText('srtp-bridge.yaml').replaceAll('+qGWn5e0pYU7bmQpkLWKJ/opymGo4ddDibUC4PvG', key),
      );
      const valid = await runShell(`npx streammesh config validate ${own}`);
      assert.equal(valid.code, 0, valid.stderr);
    });
  });

  describe('examples/http-mesh.yaml', () => {
    const LISTENER = 15001;
    let backends: Backend[];
    let up: Shell;

    before(async () => {
      await needFreePorts('examples/http-mesh.yaml', { tcp: [LISTENER, 3001, 3002, 3003] });
      // "The endpoints are yours to run": three HTTP/1.1 servers answering their name.
      backends = await Promise.all([
        startBackend('users-1', 3001),
        startBackend('users-2', 3002),
        startBackend('canary', 3003),
      ]);
      const [upLine] = exampleCommands('http-mesh.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/http-mesh.yaml');
      up = await upAsDocumented(upLine);
    });

    after(async () => {
      await stopUp(up);
      await Promise.all(backends.map((backend) => backend.close()));
    });

    it('answers every curl of the header and the README, over HTTP/1.1, HTTP/2 and h2c', async () => {
      const header = exampleCommands('http-mesh.yaml').slice(1);
      const fromReadme = shellBlocks(section('## HTTP/1.1, HTTP/2 and gRPC proxy')).slice(1);
      assert.equal(fromReadme.length, 3);
      for (const command of header) assert.ok(fromReadme.includes(command), command);
      for (const command of fromReadme) {
        assert.match(command, /^curl /);
        // --write-out: the protocol and status, as a reader sees them with -v.
        const answer = await runShell(
          `${documented(command)} --silent --show-error --write-out ' %{http_version} %{http_code}'`,
        );
        assert.equal(answer.code, 0, answer.stderr);
        const version = command.includes('--http2') ? '2' : '1.1';
        assert.match(
          answer.stdout,
          new RegExp(`^(users-1|users-2|canary) ${version.replace('.', '\\.')} 200$`),
        );
      }
    });

    it('splits host "users" 90/10 between the two endpoints and the canary', async () => {
      const counts = new Map<string, number>();
      const requests = 2_000;
      for (let sent = 0; sent < requests; sent += 50) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => send(LISTENER, { host: 'users', path: '/v1/users' })),
        );
        for (const answer of answers) {
          assert.equal(answer.status, 200);
          const name = answer.body.toString();
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
      const canary = (counts.get('canary') ?? 0) / requests;
      assert.ok(Math.abs(canary - 0.1) <= 0.03, `canary got ${(canary * 100).toFixed(1)}%`);
      assert.ok((counts.get('users-1') ?? 0) > 600 && (counts.get('users-2') ?? 0) > 600);
      const metrics = (await getText(`${PROXY_ADMIN}/metrics`)).text;
      // One series per L7 thread (label worker) when proxy.workers > 1: their sum.
      const series = [
        ...metrics.matchAll(
          /^streammesh_http_requests_total\{[^}]*route="users",cluster="users-canary",code="200"[^}]*\} (\d+)$/gm,
        ),
      ];
      assert.ok(series.length > 0, 'a streammesh_http_requests_total series of the canary');
      const served = series.reduce((sum, match) => sum + Number(match[1]), 0);
      // The curls above may have landed on the canary too.
      const canaryCurls = backends[2]?.seen.length ?? 0;
      assert.equal(served, canaryCurls);
      assert.ok(canaryCurls >= (counts.get('canary') ?? 0));
    });

    it('names the listener in what `up` prints', () => {
      assert.match(up.stdout(), /^ +http edge +http:\/\/127\.0\.0\.1:15001$/m);
    });

    it('serves the route over HTTP/2 prior knowledge, and 404 for another host', async () => {
      const session = http2Session(LISTENER);
      try {
        const answer = await send2(session, { host: 'users', path: '/v1/users' });
        assert.equal(answer.status, 200);
        assert.match(answer.body.toString(), /^(users-1|users-2|canary)$/);
      } finally {
        session.close();
      }
      assert.equal((await send(LISTENER, { host: 'orders', path: '/' })).status, 404);
    });
  });

  describe('examples/rtsp-cameras.yaml', () => {
    const rtsp = section('## RTSP camera proxy');
    const dir = scratch('rtsp');
    let camera: Shell;
    let up: Shell;

    before(async () => {
      await needFreePorts('examples/rtsp-cameras.yaml', { tcp: [8555] });
      const [cameraLine, upLine] = exampleCommands('rtsp-cameras.yaml');
      assert.equal(cameraLine, 'scripts/test-camera.sh');
      camera = startShell(documented(cameraLine), { timeoutMs: 120_000 });
      await camera.waitFor(/^test camera +rtsp:\/\/127\.0\.0\.1:8555\/test /m, 10_000);
      assert.equal(upLine, 'npx streammesh up --config examples/rtsp-cameras.yaml');
      up = await upAsDocumented(upLine);
    });

    after(async () => {
      await stopUp(up);
      const exit = await camera.interrupt(5_000);
      assert.equal(exit.code, 0, camera.stdout());
      assert.match(camera.stdout(), /^test camera +stopped$/m);
    });

    it('the README runs the same camera and mesh as the example', () => {
      const commands = shellBlocks(rtsp);
      const header = exampleCommands('rtsp-cameras.yaml');
      assert.deepEqual(commands.slice(0, 3), header.slice(0, 3));
    });

    it('ffplay plays cam1 and the demo camera, ffprobe sees H.264', async () => {
      const players = exampleCommands('rtsp-cameras.yaml').filter((c) => c.startsWith('ffplay '));
      assert.deepEqual(players, [
        'ffplay rtsp://127.0.0.1:8554/cam1',
        'ffplay rtsp://127.0.0.1:8554/demo',
      ]);
      for (const player of players) await watchWithFfplay(player, 3);
      const probe = shellBlocks(rtsp).find((c) => c.startsWith('ffprobe '));
      assert.equal(probe, 'ffprobe -rtsp_transport tcp rtsp://127.0.0.1:8554/cam1');
      const probed = await runShell(documented(probe));
      assert.equal(probed.code, 0, probed.stderr);
      assert.match(probed.stderr, /Stream #0:0.*: Video: h264/);
      // One camera session for every viewer so far.
      assert.equal(camera.stdout().match(/RTSP session \d+$/gm)?.length, 1, camera.stdout());
    });

    it('the header’s ffmpeg publishes a file to "live", and viewers get it', async () => {
      const publish = exampleCommands('rtsp-cameras.yaml').find((c) => c.startsWith('ffmpeg '));
      assert.equal(publish, 'ffmpeg -re -i clip.mp4 -c copy -f rtsp rtsp://127.0.0.1:8554/live');
      // clip.mp4 is "a file of yours": 8 s of H.264.
      const made = await runShell(
        'ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -t 8 -c:v libx264 -g 25 -pix_fmt yuv420p -y clip.mp4',
        { cwd: dir, timeoutMs: 30_000 },
      );
      assert.equal(made.code, 0, made.stderr);
      const publisher = startShell(documented(publish), { cwd: dir, timeoutMs: 30_000 });
      try {
        // Until the publisher has announced, "live" answers 404.
        const probed = await waitFor(
          async () => {
            const probe = await runShell('ffprobe -rtsp_transport tcp rtsp://127.0.0.1:8554/live');
            return probe.code === 0 ? probe : undefined;
          },
          6_000,
          () => `ffprobe of live while publishing:\n${publisher.stderr().slice(-2000)}`,
        );
        assert.match(probed.stderr, /Video: h264/);
      } finally {
        const exit = await publisher.exited;
        assert.equal(exit.code, 0, publisher.stderr().slice(-2000));
      }
    });

    it('with the auth lines uncommented (PUT /config as the README shows): 401 without, media with viewer:s3cret', async () => {
      const withAuth = exampleText('rtsp-cameras.yaml')
        .replace(/^ {4}# auth:$/m, '    auth:')
        .replace(/^ {4}# {3}users:/m, '      users:');
      assert.notEqual(withAuth, exampleText('rtsp-cameras.yaml'), 'the example has the auth lines');
      writeFileSync(join(dir, 'mesh.yaml'), withAuth);
      const put = shellBlocks(section('## Admin endpoints')).find((c) =>
        c.startsWith('curl -X PUT'),
      );
      assert.ok(put, 'the README shows PUT /config');
      const answer = await runShell(
        `${documented(put)} --silent --show-error --write-out '%{http_code}'`,
        // Its ~/.local/state is where `up` keeps the token: the scratch home here.
        { cwd: dir, env: { HOME: home } },
      );
      assert.equal(answer.code, 0, answer.stderr);
      assert.match(answer.stdout, /200$/);
      const open = 'ffprobe -rtsp_transport tcp rtsp://127.0.0.1:8554/cam1';
      await waitFor(
        async () =>
          (await runShell(documented(open))).stderr.includes('401 Unauthorized') ? true : undefined,
        10_000,
        () => 'the pushed auth to refuse a viewer without a user',
      );
      const withUser = inlineCommands(rtsp).find((c) => c.includes('viewer:s3cret@'));
      assert.equal(
        withUser,
        'ffprobe -rtsp_transport tcp rtsp://viewer:s3cret@127.0.0.1:8554/cam1',
      );
      const probed = await runShell(documented(withUser));
      assert.equal(probed.code, 0, probed.stderr);
      assert.match(probed.stderr, /Video: h264/);
    });
  });

  describe('examples/conference.yaml', () => {
    it('serves the demo page, WHEP of the demo camera, and the stats the header names', async () => {
      await needFreePorts('examples/conference.yaml', { tcp: [] });
      const [upLine] = exampleCommands('conference.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/conference.yaml');
      const up = await upAsDocumented(upLine);
      try {
        const page = await getText('http://127.0.0.1:8443/');
        assert.equal(page.status, 200);
        assert.match(page.text, /<html/i);
        const viewer = await WhepViewer.watch('http://127.0.0.1:8443/whep/demo');
        try {
          await viewer.waitFor(
            (r) => r.video.packets >= 50 && r.video.keyframes >= 1,
            'demo camera video',
            15_000,
          );
        } finally {
          await viewer.close();
        }
        const metrics = await getText('http://127.0.0.1:15103/metrics');
        assert.match(metrics.text, /^streammesh_signaling_/m);
        const stats = await getJson<{ nodes?: unknown[] }>('http://127.0.0.1:15100/stats');
        assert.equal(stats.status, 200);
      } finally {
        await stopUp(up);
      }
    });
  });

  describe('examples/camera-mesh.yaml', () => {
    it('three proxies on 127.0.0.11-13 serve cam1, which the whole mesh pulls once', async () => {
      await needFreePorts('examples/camera-mesh.yaml', { tcp: [8555] });
      const [cameraLine, upLine, ...rest] = exampleCommands('camera-mesh.yaml');
      assert.equal(cameraLine, 'scripts/test-camera.sh');
      assert.equal(upLine, 'npx streammesh up --config examples/camera-mesh.yaml');
      const camera = startShell(documented(cameraLine), { timeoutMs: 150_000 });
      await camera.waitFor(/^test camera +rtsp:\/\/127\.0\.0\.1:8555\/test /m, 10_000);
      const up = startShell(documented(upLine), { timeoutMs: 150_000 });
      try {
        for (const name of ['control-plane', 'proxy-a', 'proxy-b', 'proxy-c', 'signaling']) {
          await up.waitFor(new RegExp(`^${name} +ready +http://`, 'm'), 30_000);
        }
        for (const [name, host] of [
          ['proxy-a', '127.0.0.11'],
          ['proxy-b', '127.0.0.12'],
          ['proxy-c', '127.0.0.13'],
        ] as const) {
          assert.match(up.stdout(), new RegExp(`^${name} +ready +http://${host}:15102$`, 'm'));
        }
        const ffprobes = rest.filter((command) => command.startsWith('ffprobe '));
        assert.equal(ffprobes.length, 2);
        // Run together: both proxies serve cam1 at once, one of them (at least) as an edge.
        const results = await Promise.all(
          ffprobes.map((probe) =>
            runShell(`${documented(probe)} -v error -show_entries stream=codec_name -of compact`),
          ),
        );
        for (const result of results) {
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /codec_name=h264/);
        }
        const curl = rest.find((command) => command.startsWith('curl '));
        assert.ok(curl !== undefined, 'the header shows the hop view');
        const hops = await runShell(documented(curl));
        assert.equal(hops.code, 0, hops.stderr);
        const view = JSON.parse(hops.stdout) as { path: string; owner: string };
        assert.equal(view.path, 'cam1');
        assert.match(view.owner, /^proxy-[abc]$/);
        const sessions = camera.stdout().match(/^test camera +RTSP session \d+$/gm) ?? [];
        assert.equal(sessions.length, 1, `the camera is pulled once:\n${camera.stdout()}`);
      } finally {
        await stopUp(up);
        await camera.interrupt(5_000);
      }
    });
  });

  describe('examples/sfu-mesh.yaml', () => {
    it('three signaling nodes on 127.0.0.11-13: each prints and serves its URLs; WHIP at one, WHEP at each', async () => {
      const NODES = [
        ['sfu-a', '127.0.0.11'],
        ['sfu-b', '127.0.0.12'],
        ['sfu-c', '127.0.0.13'],
      ] as const;
      await needFreePorts('examples/sfu-mesh.yaml', {
        tcp: [8444],
        hosts: NODES.map(([, host]) => host),
      });
      const [upLine, placementsCurl, roomsCurl] = exampleCommands('sfu-mesh.yaml');
      assert.equal(upLine, 'npx streammesh up --config examples/sfu-mesh.yaml');
      assert.equal(placementsCurl, 'curl http://127.0.0.1:15100/placements');
      assert.equal(roomsCurl, 'curl http://127.0.0.1:15100/rooms');
      const up = startShell(documented(upLine), { timeoutMs: 150_000 });
      const viewers: WhepViewer[] = [];
      let publisher: WhipPublisher | undefined;
      try {
        for (const name of ['control-plane', 'proxy', ...NODES.map(([id]) => id)]) {
          await up.waitFor(new RegExp(`^${name} +ready +http://`, 'm'), 30_000);
        }
        for (const [id, host] of NODES) {
          // The node's ready line and the URLs under it, as the header says.
          const block = await up.waitFor(
            new RegExp(`^${id} +ready +(\\S+)\\n +demo page +(\\S+)\\n +WHEP demo +(\\S+)$`, 'm'),
            10_000,
          );
          assert.deepEqual(block.slice(1), [
            `http://${host}:15103`,
            `http://${host}:8443/`,
            `http://${host}:8443/whep/demo`,
          ]);
          await waitReady(block[1] ?? '', () => up.stderr(), 10_000);
          const page = await getText(`http://${host}:8443/`);
          assert.equal(page.status, 200, id);
          assert.match(page.text, /<html/i, id);
        }
        // WHIP into a room at sfu-a, WHEP of it through every node (each
        // serves it, redirects to its home or cascades it: whichever, video).
        publisher = await WhipPublisher.publish('http://127.0.0.11:8443/whip/example', {
          timeoutMs: 60_000,
        });
        for (const [id, host] of NODES) {
          const viewer = await WhepViewer.watch(`http://${host}:8443/whep/rooms/example`, {
            audio: false,
          });
          viewers.push(viewer);
          await viewer.waitFor(
            (got) => got.video.packets > 10 && got.video.keyframes > 0,
            `the room's video through ${id}`,
            15_000,
          );
        }
        const camera = await WhepViewer.watch('http://127.0.0.13:8443/whep/demo', { audio: false });
        viewers.push(camera);
        await camera.waitFor(
          (got) => got.video.packets >= 50 && got.video.keyframes >= 1,
          'the demo camera through sfu-c',
          15_000,
        );
        // The header's curls: the room's home, and the nodes that hold it.
        const placements = await runShell(documented(placementsCurl));
        assert.equal(placements.code, 0, placements.stderr);
        const homes = (
          JSON.parse(placements.stdout) as {
            rooms: { placements: { key: string; node: string }[] };
          }
        ).rooms.placements;
        const home = homes.find((placement) => placement.key === 'room/example')?.node;
        assert.ok(home !== undefined && NODES.some(([id]) => id === home), JSON.stringify(homes));
        const rooms = await runShell(documented(roomsCurl));
        assert.equal(rooms.code, 0, rooms.stderr);
        const example = (
          JSON.parse(rooms.stdout) as { rooms: { room: string; nodes: { node: string }[] }[] }
        ).rooms.find((room) => room.room === 'example');
        assert.ok(
          example?.nodes.some((share) => share.node === 'sfu-a'),
          `sfu-a holds the room it publishes: ${rooms.stdout}`,
        );
      } finally {
        await Promise.all(viewers.map((viewer) => viewer.close().catch(() => undefined)));
        await publisher?.close().catch(() => undefined);
        await stopUp(up);
      }
    });
  });

  describe('examples/secure-mesh.yaml', () => {
    it('frontend may call users but not billing over mTLS, and cam1 plays only with a token', async () => {
      await needFreePorts('examples/secure-mesh.yaml', { tcp: [8555, 3001, 3002] });
      const [cameraLine, upLine, ...rest] = exampleCommands('secure-mesh.yaml');
      assert.equal(cameraLine, 'scripts/test-camera.sh');
      assert.equal(upLine, 'npx streammesh up --config examples/secure-mesh.yaml');
      // The two services the header asks for, as it shows them.
      const services = [
        ...exampleText('secure-mesh.yaml').matchAll(/^#\s+(node -e .*\.listen\(300[12]\)")$/gm),
      ].map((match) => startShell(match[1] ?? '', { timeoutMs: 150_000 }));
      assert.equal(services.length, 2, 'the header shows the two services');
      const camera = startShell(documented(cameraLine), { timeoutMs: 150_000 });
      await camera.waitFor(/^test camera +rtsp:\/\/127\.0\.0\.1:8555\/test /m, 10_000);
      const up = startShell(documented(upLine), { timeoutMs: 150_000 });
      try {
        for (const name of ['control-plane', 'frontend', 'users', 'billing', 'signaling']) {
          await up.waitFor(new RegExp(`^${name} +ready +http://`, 'm'), 30_000);
        }
        const [users, billing, ...probes] = rest;
        assert.equal(users, 'curl http://127.0.0.11:15001/users');
        assert.equal(billing, 'curl -i http://127.0.0.11:15001/billing');
        const allowed = await runShell(documented(users));
        assert.equal(allowed.stdout, 'users\n', allowed.stderr);
        const denied = await runShell(documented(billing));
        assert.match(denied.stdout, /^HTTP\/1\.1 403 /);
        assert.doesNotMatch(denied.stdout, /^billing$/m, 'the billing app never saw the call');
        const [bare, withToken] = probes.filter((command) => command.startsWith('ffprobe '));
        assert.ok(bare !== undefined && withToken !== undefined, 'two ffprobe lines');
        const refused = await runShell(documented(bare));
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /401 Unauthorized/);
        const played = await runShell(
          `${documented(withToken)} -v error -show_entries stream=codec_name -of compact`,
        );
        assert.equal(played.code, 0, played.stderr);
        assert.match(played.stdout, /codec_name=h264/);
        // The README's token lines, against this mesh.
        const block = shellBlocks(section('## Identity and security')).filter(
          (command) => command.includes('streammesh token') || command.startsWith('ffprobe '),
        );
        assert.equal(block.length, 3, block.join('\n'));
        const script = block.map(documented).join('\n');
        const readmeRun = await runShell(
          script.replace(
            /^(ffprobe .*)$/m,
            '$1 -v error -show_entries stream=codec_name -of compact',
          ),
        );
        assert.equal(readmeRun.code, 0, readmeRun.stderr);
        assert.match(readmeRun.stdout, /codec_name=h264/);
        assert.equal(readmeRun.stdout.trim().split('\n').at(-1)?.split('.').length, 3, 'a JWT');
        // The README's revocation lines: list the serials, revoke billing's, see it listed.
        const [listSerials, revoke, listRevoked] = shellBlocks(
          section('## Identity and security'),
        ).filter(
          (command) =>
            command.includes('/ca ') ||
            command.includes('certificates/revoked') ||
            command.includes('cert revoke'),
        );
        assert.ok(
          listSerials !== undefined && revoke !== undefined && listRevoked !== undefined,
          'three revocation lines',
        );
        const serials = await runShell(documented(listSerials));
        assert.equal(serials.code, 0, serials.stderr);
        const billingSerial = /^billing ([0-9A-F]+)$/m.exec(serials.stdout)?.[1];
        assert.ok(billingSerial !== undefined, serials.stdout);
        const revoked = await runShell(revoke.replace('<serial>', billingSerial));
        assert.equal(revoked.code, 0, revoked.stderr);
        assert.match(revoked.stdout, new RegExp(`^revoked ${billingSerial} \\(spiffe://`));
        const listed = await runShell(documented(listRevoked));
        assert.equal(
          (JSON.parse(listed.stdout) as { revoked: { serial: string }[] }).revoked[0]?.serial,
          billingSerial,
        );
      } finally {
        await stopUp(up);
        await camera.interrupt(5_000);
        for (const service of services) await service.interrupt(2_000);
      }
    });
  });

  it('every example in examples/ was run above', () => {
    assert.deepEqual(readdirSync(EXAMPLES_DIR).sort(), [
      'camera-mesh.yaml',
      'conference.yaml',
      'http-mesh.yaml',
      'local-mesh.yaml',
      'rtp-relay.yaml',
      'rtsp-cameras.yaml',
      'secure-mesh.yaml',
      'sfu-mesh.yaml',
      'srtp-bridge.yaml',
    ]);
  });

  it('every command in the README and in examples/ ran, or is a placeholder or an npm script', () => {
    const scripts = Object.keys(
      (
        JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
          scripts: Record<string, string>;
        }
      ).scripts,
    );
    const inDocs = new Set([
      ...shellBlocks(readme),
      ...inlineCommands(readme),
      ...readdirSync(EXAMPLES_DIR).flatMap(exampleCommands),
    ]);
    const checked = (command: string): boolean => {
      if (ran.has(command)) return true;
      // The tree this test runs in was installed with it.
      if (command === 'npm install') return true;
      const chain = command.split(' && ');
      if (chain.length > 1) return chain.every(checked);
      // <that path>, <command>: the reader fills it in.
      if (/<[^>]+>/.test(command)) return true;
      // The suite's own scripts (npm test would run this test): they must exist.
      const npm = /^npm (?:run ([\w:-]+)|(test))\b/.exec(command);
      if (npm === null) return false;
      const name = npm[1] ?? npm[2] ?? '';
      assert.ok(scripts.includes(name), `\`${command}\`: package.json has no script ${name}`);
      return true;
    };
    const unchecked = [...inDocs].filter((command) => !checked(command));
    assert.deepEqual(unchecked, [], 'commands in the docs that no test runs');
  });
});
