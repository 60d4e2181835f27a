/**
 * Issue 15, first contact with `streammesh up`:
 *   - a taken port, for every listener of every role, ends `up` with exit
 *     code 2 and one line naming the address, and that role never says
 *     "ready" (before, `up` printed "proxy ready" for a proxy whose config was
 *     NACKed, and restarted a role with a taken admin port for ever);
 *   - the console is the banner, nothing else, and one `stopped` line, in a
 *     pipe and in a terminal (a pty from script(1), Ctrl-C typed into it);
 *     the roles' logs are in the log file, and stopping the nodes before the
 *     control plane leaves no "control plane unreachable" in it;
 *   - Ctrl-C through `npx` exits 0 (npm's /bin/sh used to turn it into 130).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ephemeralMeshConfig, writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { binPath, repoRoot, waitFor } from '../../helpers/process.js';

const TOKEN = 'first-contact-test-token-0123456789';

/** Every listener on port 0 unless a case takes one; `proxyExtra` goes under `proxy:`. */
function meshConfig(proxyExtra = ''): string {
  return ephemeralMeshConfig('', proxyExtra);
}

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Launched {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited(timeoutMs: number): Promise<Finished>;
}

/** Runs `command` in a process group of its own (as a shell's job is), with a fresh state directory. */
function launch(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Launched {
  const child = spawn(command, args, {
    cwd: repoRoot,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      STREAMMESH_ADMIN_TOKEN: TOKEN,
      XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'streammesh-state-')),
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = once(child, 'exit') as Promise<[number | null]>;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async exited(timeoutMs) {
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
      const [code] = await exit;
      clearTimeout(timer);
      return { code, stdout, stderr };
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Gone already.
  }
}

function lines(text: string): string[] {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .filter((line) => line !== '');
}

const READY = /^(control-plane|proxy|signaling) +ready +http:\/\/127\.0\.0\.1:\d+$/;

/** Waits for the three ready lines; when they do not come, stops `up` (a pty left open would keep this file's process alive). */
async function allReady(launched: Launched, timeoutMs: number): Promise<void> {
  try {
    await waitFor(
      () =>
        lines(launched.stdout()).filter((line) => READY.test(line)).length === 3 ? true : undefined,
      timeoutMs,
      () => `three ready lines, got:\n${launched.stdout()}\n${launched.stderr()}`,
    );
  } catch (error) {
    killGroup(launched.child, 'SIGKILL');
    throw error;
  }
}

function squatTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function squatUdp(port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

interface ConflictCase {
  readonly role: 'control-plane' | 'proxy' | 'signaling';
  readonly listener: string;
  readonly udp?: boolean;
  /** The environment or config that puts the listener on `port`. */
  readonly setup: (port: number) => { env?: Record<string, string>; config?: string };
}

const conflicts: readonly ConflictCase[] = [
  {
    role: 'control-plane',
    listener: 'admin',
    setup: (p) => ({ env: { STREAMMESH_CONTROL_PLANE_ADMIN: `127.0.0.1:${p}` } }),
  },
  {
    role: 'control-plane',
    listener: 'gRPC',
    setup: (p) => ({ env: { STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${p}` } }),
  },
  {
    role: 'proxy',
    listener: 'admin',
    setup: (p) => ({ env: { STREAMMESH_PROXY_ADMIN: `127.0.0.1:${p}` } }),
  },
  {
    role: 'proxy',
    listener: 'RTSP',
    setup: (p) => ({ env: { STREAMMESH_PROXY_RTSP_LISTEN: `127.0.0.1:${p}` } }),
  },
  {
    role: 'proxy',
    listener: 'HTTP listener',
    setup: (p) => ({
      config: meshConfig(`  http:\n    listeners: [{ name: edge, listen: "127.0.0.1:${p}" }]`),
    }),
  },
  {
    role: 'proxy',
    listener: 'relay route',
    udp: true,
    setup: (p) => ({
      config: meshConfig(
        [
          '  routes:',
          '    - name: cam',
          `      listen: "127.0.0.1:${p}"`,
          '      kind: video',
          '      clockRate: 90000',
          '      destinations: [{ address: "127.0.0.1:9" }]',
        ].join('\n'),
      ),
    }),
  },
  {
    role: 'signaling',
    listener: 'admin',
    setup: (p) => ({ env: { STREAMMESH_SIGNALING_ADMIN: `127.0.0.1:${p}` } }),
  },
  {
    role: 'signaling',
    listener: 'HTTP/WebSocket',
    setup: (p) => ({ env: { STREAMMESH_SIGNALING_LISTEN: `127.0.0.1:${p}` } }),
  },
];

describe('streammesh up: a taken port', { timeout: 180_000 }, () => {
  for (const conflict of conflicts) {
    it(`${conflict.role} ${conflict.listener}: one line naming the address, exit 2, no "ready" for it`, async () => {
      const port = await freePort();
      const squatter = conflict.udp === true ? await squatUdp(port) : await squatTcp(port);
      try {
        const { env = {}, config = meshConfig() } = conflict.setup(port);
        const up = launch(
          process.execPath,
          [binPath, 'up', '--config', writeTempConfig(config)],
          env,
        );
        const { code, stdout } = await up.exited(30_000);
        assert.equal(code, 2, stdout);
        const said = lines(stdout);
        const failure = new RegExp(
          `^${conflict.role}: cannot listen on 127\\.0\\.0\\.1:${port}\\b.*\\(address in use\\)$`,
        );
        assert.equal(said.filter((line) => failure.test(line)).length, 1, stdout);
        assert.equal(
          said.filter((line) => line.startsWith(`${conflict.role} `) && / ready /.test(line))
            .length,
          0,
          `no ready line for ${conflict.role}:\n${stdout}`,
        );
        assert.equal(said.filter((line) => line.startsWith(conflict.role)).length, 1, stdout);
        assert.equal(said.at(-1), 'stopped');
        assert.doesNotMatch(stdout, /restarting/);
      } finally {
        if ('close' in squatter) squatter.close();
      }
    });
  }
});

describe('streammesh up: a quiet console', { timeout: 240_000 }, () => {
  function checkBanner(said: readonly string[], stateHome: string): void {
    assert.equal(said[0], `logs          ${join(stateHome, 'streammesh', 'up.log')}`);
    assert.equal(said.at(-1), 'stopped');
    const banner = said.slice(1, -1);
    assert.equal(banner.filter((line) => READY.test(line)).length, 3, said.join('\n'));
    // The ready lines and, under each, what a user opens: nothing else.
    const detail = /^ {14}(admin token|demo camera|demo page|WHEP demo) +\S+$/;
    for (const line of banner)
      assert.ok(READY.test(line) || detail.test(line), `unexpected line: ${line}`);
    assert.equal(banner.length, 3 + 4, said.join('\n'));
    assert.match(said.join('\n'), /demo camera +rtsp:\/\/127\.0\.0\.1:[1-9]\d*\/demo/);
  }

  function checkLogFile(stateHome: string): void {
    const log = readFileSync(join(stateHome, 'streammesh', 'up.log'), 'utf8');
    for (const role of ['control-plane', 'proxy', 'signaling']) {
      assert.match(log, new RegExp(`"role":"${role}"`), `log lines of ${role}`);
    }
    assert.doesNotMatch(log, /control plane unreachable/);
  }

  it('in a pipe: banner, one stopped line, exit 0 on SIGINT; the logs are in the file', async () => {
    const up = launch(process.execPath, [binPath, 'up', '--config', writeTempConfig(meshConfig())]);
    await allReady(up, 20_000);
    killGroup(up.child, 'SIGINT');
    const { code, stdout, stderr } = await up.exited(15_000);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    const stateHome = /^logs +(\S+)\/streammesh\/up\.log$/m.exec(stdout)?.[1] ?? '';
    checkBanner(lines(stdout), stateHome);
    checkLogFile(stateHome);
  });

  it('in a terminal: the same lines, and Ctrl-C typed into it stops everything with exit 0', async () => {
    const stateHome = mkdtempSync(join(tmpdir(), 'streammesh-state-'));
    const command = [
      process.execPath,
      binPath,
      'up',
      '--config',
      writeTempConfig(meshConfig()),
    ].join(' ');
    // script(1) runs `up` on a pseudo-terminal; what we write to its stdin is typed into it.
    const up = launch('script', ['-qfec', `exec ${command}`, '/dev/null'], {
      XDG_STATE_HOME: stateHome,
    });
    await allReady(up, 20_000);
    up.child.stdin?.write('\x03');
    const { code, stdout } = await up.exited(15_000);
    assert.equal(code, 0, stdout);
    // The terminal echoes the Ctrl-C as ^C.
    checkBanner(lines(stdout.replace(/\^C/g, '')), stateHome);
    checkLogFile(stateHome);
  });

  it('through npx: Ctrl-C exits 0', async () => {
    // The first npx run in a checkout installs the package into npx's cache (a build): minutes at most.
    const up = launch('npx', ['streammesh', 'up', '--config', writeTempConfig(meshConfig())]);
    await allReady(up, 180_000);
    killGroup(up.child, 'SIGINT');
    const { code, stdout } = await up.exited(15_000);
    assert.equal(code, 0, stdout);
    assert.equal(lines(stdout).at(-1), 'stopped');
  });
});
