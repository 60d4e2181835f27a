/**
 * Headless Chromium (Debian's `chromium`, driven by puppeteer-core) as a
 * WebRTC peer for tests. Never downloads a browser.
 *
 * Each launch gets a fresh, empty user-data-dir (removed on close) and the
 * flags from shared/PEERS.md: fake camera and microphone, permission prompts
 * auto-accepted, and 127.0.0.1 host candidates (without
 * `--allow-loopback-in-peer-connection` Chrome gathers none).
 *
 * Lifetime is bounded the way test/helpers/peers/process.ts bounds its
 * peers: `closeAllChromium()` in a test's `after` hook closes every browser
 * still open; browsers still running when the test process exits get
 * SIGKILL to their process group (puppeteer starts Chromium as a group
 * leader); and a detached watchdog kills the group and removes the profile
 * after `timeoutMs`, even when the Node process itself was SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where newPage(html) serves its page: a secure context without a server. */
export const LOCAL_ORIGIN = 'http://localhost/';

/** The flags from shared/PEERS.md, less `--user-data-dir` (one per launch). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

/**
 * Appended to CHROMIUM_ARGS (the later value of a switch wins): the fake
 * camera at 10 frames per second instead of 20, for tests where pages only
 * have to decode each other on a machine others share (half the encoding).
 */
export const LIGHT_FAKE_CAMERA_ARGS: readonly string[] = [
  '--use-fake-device-for-media-stream=fps=10',
];

export interface ChromiumOptions {
  /** Hard bound on the browser's lifetime (default 60 s). */
  readonly timeoutMs?: number;
  /** Bound on the launch itself, until the DevTools connection is up (default 20 s). */
  readonly launchTimeoutMs?: number;
  /** Flags added after CHROMIUM_ARGS. */
  readonly extraArgs?: readonly string[];
}

export interface ChromiumPeer {
  readonly browser: Browser;
  /** The browser process's pid (also its process group id). */
  readonly pid: number;
  readonly userDataDir: string;
  /**
   * A new tab, with a 10 s default bound on its navigations and waits. With
   * `html`, the tab shows it at LOCAL_ORIGIN, served from Node through request
   * interception (nothing reaches the network; every other request is
   * aborted). about:blank and setContent() pages are not secure contexts,
   * so they have no navigator.mediaDevices; http://localhost is one.
   */
  newPage(html?: string): Promise<Page>;
  /** Closes the browser (SIGKILL to its group if it does not end in 3 s) and removes the profile. */
  close(): Promise<void>;
}

const live = new Set<Live>();

interface Live {
  readonly pid: number;
  readonly userDataDir: string;
  readonly watchdog: ChildProcess;
  readonly close: () => Promise<void>;
}

process.on('exit', () => {
  for (const peer of live) {
    killGroup(peer.pid);
    killGroup(peer.watchdog.pid);
    rmSync(peer.userDataDir, { recursive: true, force: true });
  }
});

/** Throws a message that says how to install Chromium when it is missing. */
export function requireChromium(): void {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `${CHROMIUM_PATH} is not installed (Debian package chromium): run scripts/install-test-peers.sh`,
    );
  }
}

export async function launchChromium(options: ChromiumOptions = {}): Promise<ChromiumPeer> {
  requireChromium();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const userDataDir = mkdtempSync(join(tmpdir(), 'streammesh-chromium-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      ignoreDefaultArgs: true,
      args: [...CHROMIUM_ARGS, `--user-data-dir=${userDataDir}`, ...(options.extraArgs ?? [])],
      pipe: true,
      timeout: options.launchTimeoutMs ?? 20_000,
      protocolTimeout: timeoutMs,
      // The exit hook below kills the whole group; puppeteer's own signal
      // handlers would call process.exit() from inside the test runner.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (error) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
  const pid = browser.process()?.pid;
  if (pid === undefined) {
    await browser.close().catch(() => undefined);
    rmSync(userDataDir, { recursive: true, force: true });
    throw new Error('chromium started without a pid');
  }
  const watchdog = startWatchdog(pid, userDataDir, timeoutMs);
  // The watchdog's bound, also from inside: close before it has to kill.
  const timer = setTimeout(() => void close(), timeoutMs).unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearTimeout(timer);
      const exited = browserExited(pid, 3_000);
      await Promise.race([browser.close().catch(() => undefined), exited]);
      if (!(await exited)) killGroup(pid);
      // Renderers and the zygote share the browser's group; make sure none is left.
      killGroup(pid);
      killGroup(watchdog.pid);
      rmSync(userDataDir, { recursive: true, force: true });
      live.delete(entry);
    })();
    return closing;
  };
  const entry: Live = { pid, userDataDir, watchdog, close };
  live.add(entry);

  return {
    browser,
    pid,
    userDataDir,
    async newPage(html) {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      if (html === undefined) return page;
      await page.setRequestInterception(true);
      page.on('request', (request) => {
        if (request.isInterceptResolutionHandled()) return;
        if (request.url() === LOCAL_ORIGIN) {
          void request.respond({ status: 200, contentType: 'text/html', body: html });
        } else {
          void request.abort('blockedbyclient');
        }
      });
      await page.goto(LOCAL_ORIGIN);
      return page;
    },
    close,
  };
}

/** Closes every browser this process launched and that is still open. */
export async function closeAllChromium(): Promise<void> {
  await Promise.all([...live].map((peer) => peer.close()));
}

/**
 * A detached `sh` that, after `timeoutMs`, SIGKILLs the browser's group (if
 * that pid is still a chromium) and removes its profile. It outlives a
 * SIGKILLed test process; close() kills it when the browser ends in time.
 */
function startWatchdog(pid: number, userDataDir: string, timeoutMs: number): ChildProcess {
  const script =
    'sleep "$1"; ' +
    'if grep -q chromium "/proc/$2/cmdline" 2>/dev/null; then kill -KILL -- "-$2"; fi; ' +
    'sleep 1; rm -rf -- "$3"';
  const watchdog = spawn(
    'sh',
    ['-c', script, 'chromium-watchdog', (timeoutMs / 1000).toFixed(3), String(pid), userDataDir],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.on('error', () => undefined);
  watchdog.unref();
  return watchdog;
}

/** Resolves true once process `pid` has exited (or is a zombie), false after `timeoutMs`. */
async function browserExited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive(pid)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name.
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
