#!/usr/bin/env node
// Provide node_modules/mediasoup/worker/out/Release/mediasoup-worker.
//
// mediasoup's own install script is disabled for this project (package.json
// "allowScripts": { "mediasoup": false }) because its fallback downloads meson
// via pip and every C/C++ dependency from GitHub, which cannot work on our
// offline machines. This script is the project's replacement. In order:
//
//   1. existing  - the worker binary is already in place and runs: done.
//   2. env       - MEDIASOUP_WORKER_BIN names an existing file: done (mediasoup
//                  uses it at run time).
//   3. cache     - a binary cached by an earlier run for this mediasoup version
//                  and platform is copied into place.
//   4. prebuilt  - mediasoup's prebuilt binary from its GitHub release (what
//                  mediasoup's postinstall would fetch), for machines with
//                  internet. Fails within seconds when offline.
//   5. built     - offline build from the worker sources shipped in the npm
//                  package, against Debian packages (installed with apt-get if
//                  missing), with meson.build's subproject() calls rewritten to
//                  system dependency() lookups and small compat headers from
//                  scripts/mediasoup/compat (libsrtp 3 API on libsrtp2,
//                  ankerl::unordered_dense on std containers).
//                  See scripts/mediasoup/README.md.
//
// Usage: node scripts/mediasoup-worker.mjs [options]
//   --force            ignore an existing binary and the cache (rebuild/refetch)
//   --no-prebuilt      skip the prebuilt download (also:
//                      MEDIASOUP_SKIP_WORKER_PREBUILT_DOWNLOAD=1)
//   --no-cache         neither read nor write the cache
//   --mediasoup-dir D  mediasoup package directory (default:
//                      <repo>/node_modules/mediasoup)
//   --keep-build-dir   keep the temporary build directory after a build
//   --help
//
// Environment: MEDIASOUP_WORKER_BIN, XDG_CACHE_HOME,
//   MEDIASOUP_SKIP_WORKER_PREBUILT_DOWNLOAD,
//   MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL (as in mediasoup),
//   STREAMMESH_MEDIASOUP_JOBS (parallel compile jobs, default: CPU count),
//   STREAMMESH_MEDIASOUP_MESON_ARGS (extra `meson setup` arguments).
//
// Plain Node ESM, node built-ins only (it runs before anything is built).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

const TAG = '[mediasoup-worker]';
const SCRIPT_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(SCRIPT_DIR, '..');
const SUPPORT_DIR = path.join(SCRIPT_DIR, 'mediasoup');
const COMPAT_DIR = path.join(SUPPORT_DIR, 'compat');
// Bump when the build recipe changes (recorded in the cache's info.json).
const RECIPE_VERSION = 2; // 2: patchWorkerSources (DTLS BIO callback)
const WORKER_EXIT_MISSING_VERSION = 41; // mediasoup-worker main.cpp
const PREBUILT_CONNECT_TIMEOUT_MS = 15_000;
const PREBUILT_TOTAL_TIMEOUT_MS = 180_000;
const MIN_MESON = [1, 1, 0];

// Debian packages needed by the offline build. Extra ones are added when the
// worker's meson.build asks for them (e.g. usrsctp: 3.19.3 uses it, 3.27.1 does not).
const BASE_APT_PACKAGES = [
  'g++',
  'pkg-config',
  'ninja-build',
  'libuv1-dev',
  'libssl-dev',
  'libsrtp2-dev',
  'libflatbuffers-dev',
  'flatbuffers-compiler',
  'libabsl-dev',
];

const log = (...args) => console.log(TAG, ...args);
const warn = (...args) => console.error(TAG, 'WARNING:', ...args);

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

// ---------------------------------------------------------------------------
// Command line.

function parseArgs(argv) {
  const opts = {
    force: false,
    prebuilt: !process.env.MEDIASOUP_SKIP_WORKER_PREBUILT_DOWNLOAD,
    cache: true,
    mediasoupDir: path.join(REPO_ROOT, 'node_modules', 'mediasoup'),
    keepBuildDir: false,
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];

    switch (arg) {
      case '--force':
        opts.force = true;
        break;
      case '--no-prebuilt':
        opts.prebuilt = false;
        break;
      case '--no-cache':
        opts.cache = false;
        break;
      case '--keep-build-dir':
        opts.keepBuildDir = true;
        break;
      case '--mediasoup-dir':
        if (!argv[i + 1]) fail('--mediasoup-dir needs a value');
        opts.mediasoupDir = path.resolve(argv[++i]);
        break;
      case '--help':
      case '-h':
        opts.help = true;
        break;
      default:
        if (arg.startsWith('--mediasoup-dir=')) {
          opts.mediasoupDir = path.resolve(arg.slice('--mediasoup-dir='.length));
        } else {
          fail(`unknown argument: ${arg} (see --help)`);
        }
    }
  }

  return opts;
}

function printHelp() {
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const usage = text
    .split('\n')
    .filter((line) => line.startsWith('//'))
    .map((line) => line.replace(/^\/\/ ?/, ''))
    .join('\n');

  console.log(usage);
}

// ---------------------------------------------------------------------------
// Small helpers.

function workerRuns(bin) {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    return false;
  }

  // Run it without MEDIASOUP_VERSION: a working worker exits with 41 (the
  // same check mediasoup's own postinstall does on a prebuilt binary).
  const res = spawnSync(bin, [], { env: {}, stdio: 'ignore', timeout: 15_000 });

  return res.status === WORKER_EXIT_MISSING_VERSION;
}

function installBinary(src, dest) {
  fs.mkdirSync(path.dirname(dest), { recursive: true });

  const tmp = `${dest}.tmp-${process.pid}`;

  fs.copyFileSync(src, tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, dest);
}

function writeCache(cacheDir, bin, info) {
  try {
    installBinary(bin, path.join(cacheDir, 'mediasoup-worker'));
    fs.writeFileSync(
      path.join(cacheDir, 'info.json'),
      `${JSON.stringify({ ...info, cachedAt: new Date().toISOString() }, null, 2)}\n`,
    );
    log(`cached at ${path.join(cacheDir, 'mediasoup-worker')}`);
  } catch (error) {
    warn(`could not write the cache at ${cacheDir}: ${error.message}`);
  }
}

/** A built binary from an older recipe (e.g. without a source patch) is not reused. */
function cachedRecipeIsCurrent(cacheDir) {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(cacheDir, 'info.json'), 'utf8'));

    return info.source !== 'built' || info.recipe === RECIPE_VERSION;
  } catch {
    return false;
  }
}

function fmtSeconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

function parseVersion(text) {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');

  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function versionAtLeast(v, min) {
  for (let i = 0; i < 3; i++) {
    if (v[i] !== min[i]) return v[i] > min[i];
  }

  return true;
}

function run(cmd, args, { env, cwd, quiet = false } = {}) {
  const res = spawnSync(cmd, args, {
    cwd,
    env: env ?? process.env,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
  });

  if (res.error) {
    return { ok: false, status: null, stdout: '', stderr: String(res.error.message) };
  }

  return {
    ok: res.status === 0,
    status: res.status,
    stdout: res.stdout ?? '',
    stderr: res.stderr ?? '',
  };
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;

    const file = path.join(dir, cmd);

    try {
      fs.accessSync(file, fs.constants.X_OK);

      return file;
    } catch {
      // keep looking
    }
  }

  return null;
}

// Runs a command, sending its output to a log file; every `every` ninja steps
// (or lines) a progress line is printed. Resolves with the exit code.
function runLogged(cmd, args, { cwd, env, logFile, progress }) {
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, 'a');

    fs.writeSync(out, `\n$ ${[cmd, ...args].join(' ')}\n`);

    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lastPct = -1;
    let buffered = '';

    const onData = (chunk) => {
      fs.writeSync(out, chunk);

      if (!progress) return;

      buffered += chunk.toString('utf8');

      let idx;

      while ((idx = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, idx);

        buffered = buffered.slice(idx + 1);

        const m = /^\[(\d+)\/(\d+)\]/.exec(line);

        if (m) {
          const pct = Math.floor((100 * Number(m[1])) / Number(m[2]));

          if (pct >= lastPct + 10 || Number(m[1]) === Number(m[2])) {
            lastPct = pct;
            log(`  compiling: ${m[1]}/${m[2]} (${pct}%)`);
          }
        }
      }
    };

    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      fs.writeSync(out, `\n${error.stack}\n`);
      fs.closeSync(out);
      resolve(-1);
    });
    child.on('close', (code) => {
      fs.closeSync(out);
      resolve(code ?? -1);
    });
  });
}

function tailOfFile(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------
// Prebuilt download (what mediasoup's npm-scripts.mjs downloadPrebuiltWorker()
// does, without its fall back to the pip/meson subproject build).

function prebuiltTarName(version) {
  let name = `mediasoup-worker-${version}-${os.platform()}-${os.arch()}`;

  if (os.platform() === 'linux') {
    name += `-kernel${Number(os.release().split('.')[0])}`;
  }

  return `${name}.tgz`;
}

// Extracts the file called `wanted` from an (uncompressed) tar buffer.
function extractFromTar(buf, wanted) {
  let offset = 0;
  let longName = null;

  while (offset + 512 <= buf.length) {
    const header = buf.subarray(offset, offset + 512);

    if (header.every((b) => b === 0)) break;

    const str = (start, len) => {
      const s = header.subarray(start, start + len);
      const nul = s.indexOf(0);

      return s.subarray(0, nul === -1 ? s.length : nul).toString('utf8');
    };

    let name = str(0, 100);
    const prefix = str(345, 155);
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const dataStart = offset + 512;
    const data = buf.subarray(dataStart, dataStart + size);

    offset = dataStart + Math.ceil(size / 512) * 512;

    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }

    if (prefix) name = `${prefix}/${name}`;
    if (longName) {
      name = longName;
      longName = null;
    }

    if ((type === '0' || type === '\0') && path.posix.basename(name) === wanted) {
      return Buffer.from(data);
    }
  }

  return null;
}

async function fetchPrebuilt(pkg, destBin) {
  const repoUrl = String(pkg.repository?.url ?? 'https://github.com/versatica/mediasoup')
    .replace(/^git\+/, '')
    .replace(/\.git$/, '');
  const base =
    process.env.MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL || `${repoUrl}/releases/download`;
  const url = `${base}/${pkg.version}/${prebuiltTarName(pkg.version)}`;

  log(`trying the prebuilt binary: ${url}`);

  const controller = new AbortController();
  const total = setTimeout(() => controller.abort(), PREBUILT_TOTAL_TIMEOUT_MS);
  const connect = setTimeout(() => controller.abort(), PREBUILT_CONNECT_TIMEOUT_MS);
  const started = Date.now();

  try {
    const res = await fetch(url, { signal: controller.signal, redirect: 'follow' });

    clearTimeout(connect);

    if (!res.ok) {
      log(`no prebuilt binary (HTTP ${res.status})`);

      return false;
    }

    const tgz = Buffer.from(await res.arrayBuffer());
    const bin = extractFromTar(zlib.gunzipSync(tgz), 'mediasoup-worker');

    if (!bin) {
      warn('the prebuilt archive has no mediasoup-worker file');

      return false;
    }

    const tmp = `${destBin}.prebuilt-${process.pid}`;

    fs.mkdirSync(path.dirname(destBin), { recursive: true });
    fs.writeFileSync(tmp, bin, { mode: 0o755 });

    if (!workerRuns(tmp)) {
      fs.rmSync(tmp, { force: true });
      warn('the prebuilt binary does not run on this host');

      return false;
    }

    fs.renameSync(tmp, destBin);

    return true;
  } catch (error) {
    const reason =
      error.name === 'AbortError'
        ? 'timed out'
        : `${error.message}${error.cause ? ` (${error.cause.code ?? error.cause.message})` : ''}`;

    log(`prebuilt download failed after ${fmtSeconds(Date.now() - started)}: ${reason}`);

    return false;
  } finally {
    clearTimeout(connect);
    clearTimeout(total);
  }
}

// ---------------------------------------------------------------------------
// Debian packages.

function dpkgInstalledVersion(pkgName) {
  const res = run('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkgName], { quiet: true });

  if (!res.ok) return null;

  const [status, version] = res.stdout.split('\t');

  return /install ok installed/.test(status) ? version : null;
}

function isInstalled(pkgName) {
  // `dpkg -s` as the check (what the brief for this script asks for).
  const res = run('dpkg', ['-s', pkgName], { quiet: true });

  return res.ok && /^Status: install ok installed/m.test(res.stdout);
}

function rootPrefix() {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return [];

  if (which('sudo') && run('sudo', ['-n', 'true'], { quiet: true }).ok) return ['sudo', '-n'];

  return null;
}

let aptUpdated = false;

function aptGet(args) {
  const prefix = rootPrefix();

  if (!prefix) {
    fail(
      `need root (or passwordless sudo) to run: apt-get ${args.join(' ')}\n` +
        '  Run it yourself, then run this script again.',
    );
  }

  const cmd = [...prefix, 'apt-get', '-o', 'DPkg::Lock::Timeout=300', ...args];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

  log(`$ ${cmd.join(' ')}`);

  const res = run(cmd[0], cmd.slice(1), { env, quiet: true });

  if (!res.ok) {
    const out = `${res.stdout}\n${res.stderr}`.trim().split('\n').slice(-15).join('\n');

    return { ok: false, output: out };
  }

  return { ok: true, output: '' };
}

function aptUpdate() {
  if (aptUpdated) return;

  const res = aptGet(['update', '-q']);

  if (!res.ok) warn(`apt-get update failed (continuing):\n${res.output}`);

  aptUpdated = true;
}

function ensureAptPackages(packages) {
  const missing = packages.filter((p) => !isInstalled(p));

  if (missing.length === 0) {
    log(`Debian packages present: ${packages.join(' ')}`);

    return;
  }

  log(`installing Debian packages: ${missing.join(' ')}`);
  aptUpdate();

  const res = aptGet(['install', '-y', '-q', '--no-install-recommends', ...missing]);

  if (!res.ok) {
    fail(`apt-get install failed for: ${missing.join(' ')}\n${res.output}`);
  }
}

function osRelease() {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const out = {};

    for (const line of text.split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line);

      if (m) out[m[1]] = m[3];
    }

    return out;
  } catch {
    return {};
  }
}

function mesonVersionOf(bin) {
  const res = run(bin, ['--version'], { quiet: true });

  return res.ok ? parseVersion(res.stdout) : null;
}

// Returns { bin, version, relaxed } where relaxed means meson is older than
// the worker's meson_version requirement and the requirement must be relaxed.
function ensureMeson() {
  const candidates = [which('meson'), '/usr/bin/meson'].filter(Boolean);

  for (const bin of candidates) {
    const v = mesonVersionOf(bin);

    if (v && versionAtLeast(v, MIN_MESON)) {
      log(`meson ${v.join('.')} (${bin})`);

      return { bin, version: v, relaxed: false };
    }
  }

  const codename = osRelease().VERSION_CODENAME;

  if (!codename || osRelease().ID !== 'debian') {
    fail(
      `meson >= ${MIN_MESON.join('.')} is needed and this is not Debian ` +
        `(${osRelease().PRETTY_NAME ?? 'unknown OS'}): install meson >= 1.1 yourself.`,
    );
  }

  // Debian's own suite first when it has meson >= 1.1 (trixie and later).
  aptUpdate();

  const candidate = parseVersion(
    /Candidate:\s*(\S+)/.exec(run('apt-cache', ['policy', 'meson'], { quiet: true }).stdout)?.[1],
  );

  if (!isInstalled('meson') && candidate && versionAtLeast(candidate, MIN_MESON)) {
    const res = aptGet(['install', '-y', '-q', '--no-install-recommends', 'meson']);

    if (!res.ok) warn(`apt-get install meson failed:\n${res.output}`);
  }

  let v = mesonVersionOf('/usr/bin/meson');

  if (v && versionAtLeast(v, MIN_MESON)) {
    log(`meson ${v.join('.')} (/usr/bin/meson)`);

    return { bin: '/usr/bin/meson', version: v, relaxed: false };
  }

  // bookworm has 1.0.1; bookworm-backports has a current one.
  const suite = `${codename}-backports`;
  const listFile = `/etc/apt/sources.list.d/streammesh-${suite}.list`;
  const sourcesDir = '/etc/apt/sources.list.d';
  const haveBackports = (fs.existsSync(sourcesDir) ? fs.readdirSync(sourcesDir) : [])
    .map((f) => path.join(sourcesDir, f))
    .concat(['/etc/apt/sources.list'])
    .some((f) => {
      try {
        return new RegExp(`\\b${suite}\\b`).test(fs.readFileSync(f, 'utf8'));
      } catch {
        return false;
      }
    });

  if (!haveBackports) {
    log(`adding ${suite} to apt sources (${listFile}) for meson >= ${MIN_MESON.join('.')}`);

    const line = `deb http://deb.debian.org/debian ${suite} main\n`;

    try {
      fs.writeFileSync(listFile, line);
    } catch (error) {
      const prefix = rootPrefix();

      if (!prefix) fail(`cannot write ${listFile}: ${error.message}`);

      const res = spawnSync(prefix[0], [...prefix.slice(1), 'tee', listFile], {
        input: line,
        stdio: ['pipe', 'ignore', 'inherit'],
      });

      if (res.status !== 0) fail(`cannot write ${listFile}`);
    }
  }

  aptUpdated = false;
  aptUpdate();

  const res = aptGet(['install', '-y', '-q', '--no-install-recommends', '-t', suite, 'meson']);

  // Leave the machine's apt sources as they were: the list file was only
  // needed for this install (and an unreachable suite would make every later
  // `apt-get update` fail).
  if (!haveBackports) {
    try {
      fs.rmSync(listFile, { force: true });
    } catch {
      const prefix = rootPrefix();

      if (prefix) run(prefix[0], [...prefix.slice(1), 'rm', '-f', listFile], { quiet: true });
    }

    log(`removed ${listFile} again`);
  }

  v = mesonVersionOf('/usr/bin/meson');

  if (res.ok && v && versionAtLeast(v, MIN_MESON)) {
    log(`meson ${v.join('.')} from ${suite}`);

    return { bin: '/usr/bin/meson', version: v, relaxed: false };
  }

  if (!res.ok) warn(`meson from ${suite} unavailable:\n${res.output}`);

  // Last resort: Debian's older meson, with the worker's meson_version
  // requirement relaxed (meson 1.0.1 configures mediasoup 3.19.3 fine).
  if (!v && !isInstalled('meson')) {
    const res2 = aptGet(['install', '-y', '-q', '--no-install-recommends', 'meson']);

    if (!res2.ok) warn(`apt-get install meson failed:\n${res2.output}`);

    v = mesonVersionOf('/usr/bin/meson');
  }

  if (v && versionAtLeast(v, [0, 60, 0])) {
    warn(`using meson ${v.join('.')} and relaxing the worker's meson_version requirement`);

    return { bin: '/usr/bin/meson', version: v, relaxed: true };
  }

  fail(`no usable meson (need >= ${MIN_MESON.join('.')}, or >= 0.60 as a fallback)`);
}

// ---------------------------------------------------------------------------
// meson.build rewriting.

// Index just past the ')' that closes the '(' at `open`, skipping strings and
// comments.
function matchParen(src, open) {
  let depth = 0;

  for (let i = open; i < src.length; i++) {
    const c = src[i];

    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === "'") {
      const triple = src.startsWith("'''", i);
      const end = triple ? src.indexOf("'''", i + 3) : src.indexOf("'", i + 1);

      if (end === -1) return -1;
      i = triple ? end + 2 : end;
    } else if (c === '(' || c === '[' || c === '{') {
      depth++;
    } else if (c === ')' || c === ']' || c === '}') {
      depth--;

      if (depth === 0) return i + 1;
    }
  }

  return -1;
}

// System replacement for `<proj>.get_variable('<var>')`, by subproject name.
// '[]' drops a static library from link_whole (the system libraries come in
// through the *_dep dependencies instead).
const ABSL_GROUPS = {
  absl_container_dep: [
    'absl_flat_hash_map',
    'absl_flat_hash_set',
    'absl_node_hash_map',
    'absl_node_hash_set',
    'absl_btree',
    'absl_inlined_vector',
  ],
  absl_strings_dep: ['absl_strings', 'absl_memory'],
  absl_types_dep: ['absl_optional', 'absl_variant', 'absl_span', 'absl_any', 'absl_memory'],
  absl_base_dep: ['absl_base', 'absl_memory'],
  absl_hash_dep: ['absl_hash'],
};

function systemVariable(subproject, variable, needs) {
  const simple = {
    openssl: {
      openssl_dep: "dependency('openssl')",
      libcrypto_dep: "dependency('libcrypto')",
      libssl_dep: "dependency('libssl')",
      libcrypto_lib: '[]',
      libssl_lib: '[]',
    },
    libuv: { libuv_dep: "dependency('libuv')", libuv: '[]' },
    libsrtp3: { libsrtp3_dep: 'streammesh_srtp_dep', libsrtp3: '[]' },
    libsrtp2: { libsrtp2_dep: "dependency('libsrtp2')", libsrtp2: '[]' },
    usrsctp: { usrsctp_dep: "dependency('usrsctp')", usrsctp: '[]' },
    flatbuffers: { flatbuffers_dep: "dependency('flatbuffers')", flatbuffers_lib: '[]' },
    liburing: { uring: "dependency('liburing')", liburing: '[]' },
    catch2: { catch2_dep: 'declare_dependency()', catch2_with_main_dep: 'declare_dependency()' },
    wingetopt: { wingetopt_dep: 'declare_dependency()', wingetopt_lib: '[]' },
    'unordered-dense': { ankerl_unordered_dense_dep: 'streammesh_ankerl_dep' },
    unordered_dense: { ankerl_unordered_dense_dep: 'streammesh_ankerl_dep' },
  };

  if (subproject === 'libsrtp3') needs.srtp = true;
  if (subproject === 'usrsctp') needs.apt.add('libusrsctp-dev');
  if (subproject === 'liburing') needs.liburing = true;
  if (/unordered.dense/.test(subproject)) needs.ankerl = true;

  if (simple[subproject]?.[variable]) return simple[subproject][variable];

  if (subproject === 'abseil-cpp') {
    if (/_lib$/.test(variable)) return '[]';

    const group = ABSL_GROUPS[variable] ?? [variable.replace(/_dep$/, '')];
    const name = `streammesh_${variable}`;

    needs.absl.set(name, group);

    return name;
  }

  return null;
}

function rewriteMeson(workerDir, { srtpOpaquePolicy, meson }) {
  const files = [];

  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);

      if (entry.isDirectory()) {
        if (entry.name !== 'subprojects' && entry.name !== 'out') walk(p);
      } else if (entry.name === 'meson.build') {
        files.push(p);
      }
    }
  };

  walk(workerDir);

  const rootFile = path.join(workerDir, 'meson.build');
  const texts = new Map(files.map((f) => [f, fs.readFileSync(f, 'utf8')]));
  const projects = new Map(); // variable name -> subproject name
  const needs = { srtp: false, ankerl: false, liburing: false, apt: new Set(), absl: new Map() };
  const changes = [];

  // Pass 1: drop `x = subproject('name', ...)` statements.
  for (const [file, text] of texts) {
    let out = '';
    let pos = 0;
    const re = /^([ \t]*)(\w+)\s*=\s*subproject\s*\(/gm;
    let m;

    while ((m = re.exec(text))) {
      const open = m.index + m[0].length - 1;
      const end = matchParen(text, open);

      if (end === -1) fail(`${file}: unbalanced subproject( call`);

      const call = text.slice(open, end);
      const name = /^\(\s*'([^']+)'/.exec(call)?.[1];

      if (!name) fail(`${file}: cannot read the subproject name in: ${call.slice(0, 80)}`);

      projects.set(m[2], name);
      out += text.slice(pos, m.index);
      out += `${m[1]}# streammesh: ${m[2]} = subproject('${name}') replaced by system dependencies`;
      pos = end;
      re.lastIndex = end;
      changes.push(
        `${path.relative(workerDir, file)}: removed ${m[2]} = subproject('${name}', ...)`,
      );
    }

    texts.set(file, out + text.slice(pos));
  }

  // Pass 2: `x.get_variable('v')` -> system dependency; dependency('unordered_dense').
  for (const [file, text] of texts) {
    let next = text.replace(/\b(\w+)\.get_variable\(\s*'([^']+)'\s*\)/g, (all, proj, variable) => {
      const sub = projects.get(proj);

      if (!sub) fail(`${file}: ${all} refers to no known subproject`);

      const expr = systemVariable(sub, variable, needs);

      if (!expr) {
        fail(
          `${file}: no system replacement known for subproject '${sub}' variable '${variable}'.\n` +
            '  A newer mediasoup needs a new entry in systemVariable() in scripts/mediasoup-worker.mjs.',
        );
      }

      changes.push(`${path.relative(workerDir, file)}: ${all} -> ${expr}`);

      return expr;
    });

    next = next.replace(/\bdependency\(\s*'unordered_dense'[^)]*\)/g, (all) => {
      needs.ankerl = true;
      changes.push(`${path.relative(workerDir, file)}: ${all} -> streammesh_ankerl_dep`);

      return 'streammesh_ankerl_dep';
    });

    const leftover = next
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .find((line) => /\bsubproject\s*\(|\.get_variable\s*\(/.test(line));

    if (leftover) fail(`${file}: could not rewrite: ${leftover.trim()}`);

    texts.set(file, next);
  }

  // Prelude with the helper dependencies, right after project(...).
  let root = texts.get(rootFile);
  const projectCall = /^project\s*\(/m.exec(root);

  if (!projectCall) fail('worker/meson.build: no project() call');

  const projectEnd = matchParen(root, projectCall.index + projectCall[0].length - 1);
  const prelude = [
    '',
    '# ---- streammesh offline build (scripts/mediasoup-worker.mjs) ----',
    '# subproject() calls below are replaced with Debian system libraries.',
    "streammesh_compat_inc = include_directories('streammesh-compat')",
  ];

  if (needs.srtp) {
    prelude.push(
      '# libsrtp 3 API (versatica fork, not packaged) on top of libsrtp2.',
      'streammesh_srtp_dep = declare_dependency(',
      '  include_directories: streammesh_compat_inc,',
      `  compile_args: [${srtpOpaquePolicy ? "'-DMS_SRTP3_OPAQUE_POLICY'" : ''}],`,
      "  dependencies: [dependency('libsrtp2', allow_fallback: false)],",
      ')',
    );
  }

  if (needs.ankerl) {
    prelude.push(
      '# ankerl::unordered_dense (not packaged) as std::unordered_map/set.',
      'streammesh_ankerl_dep = declare_dependency(include_directories: streammesh_compat_inc)',
    );
  }

  for (const [name, group] of needs.absl) {
    prelude.push(
      `${name} = declare_dependency(dependencies: [`,
      ...[...new Set(group)].map((g) => `  dependency('${g}', allow_fallback: false),`),
      '])',
    );
  }

  prelude.push('# ---- end streammesh ----', '');
  root = root.slice(0, projectEnd) + '\n' + prelude.join('\n') + root.slice(projectEnd);

  if (meson.relaxed) {
    root = root.replace(
      /meson_version\s*:\s*'[^']*'/,
      `meson_version: '>= ${meson.version.join('.')}'`,
    );
    changes.push(`meson.build: meson_version relaxed to >= ${meson.version.join('.')}`);
  }

  texts.set(rootFile, root);
  changes.push(
    `meson.build: prelude added after project(): ${prelude
      .filter((l) => /^\w+ = /.test(l))
      .map((l) => l.split(' ')[0])
      .join(', ')}`,
  );

  for (const [file, text] of texts) fs.writeFileSync(file, text);

  return { needs, changes };
}

// ---------------------------------------------------------------------------
// Source patches: bugs that mediasoup's own OpenSSL build hides and Debian's
// libssl exposes.

// mediasoup's DTLS output BIO callback answers 1 to every call that is not
// exactly BIO_CB_RETURN, including BIO_CB_CTRL | BIO_CB_RETURN. mediasoup's
// bundled OpenSSL is built without kernel TLS, so nothing notices; Debian's
// libssl3 has KTLS, asks BIO_get_ktls_send() on the write BIO before
// allocating the DTLS write buffer, reads that 1 as "the kernel sends", leaves
// the buffer NULL and crashes (SIGSEGV in SSL_read) writing the ServerHello of
// the first DTLS handshake: every WebRtcTransport dies with its worker.
const DTLS_BIO_CALLBACK_PATCH = {
  file: path.join('src', 'RTC', 'DtlsTransport.cpp'),
  broken: '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
  fixed: '((operationType & BIO_CB_RETURN) != 0) ? static_cast<long>(ret) : 1',
};

function patchWorkerSources(workerDir) {
  const changes = [];
  const { file, broken, fixed } = DTLS_BIO_CALLBACK_PATCH;
  const target = path.join(workerDir, file);
  const text = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';

  if (text.includes(broken)) {
    fs.writeFileSync(target, text.replace(broken, fixed));
    changes.push(`${file}: DTLS BIO callback returns ret for every BIO_CB_RETURN call`);
  } else if (!text.includes(fixed)) {
    warn(
      `${file}: the DTLS BIO callback is not the one patched for 3.19; ` +
        'check that it returns ret for BIO_CB_CTRL | BIO_CB_RETURN (see DTLS_BIO_CALLBACK_PATCH)',
    );
  }

  return changes;
}

// ---------------------------------------------------------------------------
// Offline build.

async function buildWorker(msDir, pkg, destBin, opts) {
  const started = Date.now();
  const srcWorker = path.join(msDir, 'worker');

  if (!fs.existsSync(path.join(srcWorker, 'meson.build'))) {
    fail(`${srcWorker}/meson.build not found: the mediasoup package has no worker sources`);
  }

  if (os.platform() !== 'linux') {
    fail(`the offline build supports Linux (Debian) only, not ${os.platform()}`);
  }

  if (!which('dpkg') || !which('apt-get')) {
    fail('the offline build needs a Debian system (dpkg/apt-get not found)');
  }

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'streammesh-mediasoup-worker-'));
  const workerDir = path.join(tmpRoot, 'worker');
  const buildDir = path.join(tmpRoot, 'build');
  const logFile = path.join(tmpRoot, 'build.log');
  let ok = false;

  try {
    log(`building mediasoup-worker ${pkg.version} from source in ${tmpRoot}`);

    // 1. A private copy of the worker sources (node_modules is not touched).
    fs.cpSync(srcWorker, workerDir, {
      recursive: true,
      filter: (src) => {
        const rel = path.relative(srcWorker, src);
        const top = rel.split(path.sep)[0];

        if (['out', 'prebuild', 'pip_invoke', '.cache'].includes(top)) return false;
        // Drop the wraps: nothing may be downloaded or built from subprojects.
        if (top === 'subprojects' && rel !== 'subprojects') return false;

        return true;
      },
    });
    fs.cpSync(COMPAT_DIR, path.join(workerDir, 'streammesh-compat'), { recursive: true });

    for (const change of patchWorkerSources(workerDir)) {
      fs.appendFileSync(logFile, `[patch] ${change}\n`);
      log(`patched ${change}`);
    }

    // 2. Which libsrtp 3 API generation the sources use.
    const srtpSession = path.join(workerDir, 'src', 'RTC', 'SrtpSession.cpp');
    const srtpOpaquePolicy =
      fs.existsSync(srtpSession) &&
      /\bsrtp_policy_create\s*\(/.test(fs.readFileSync(srtpSession, 'utf8'));

    // 3. Toolchain and libraries (meson first: the rewrite depends on it).
    ensureAptPackages(BASE_APT_PACKAGES);

    const meson = ensureMeson();
    const { needs, changes } = rewriteMeson(workerDir, { srtpOpaquePolicy, meson });

    for (const c of changes) fs.appendFileSync(logFile, `[rewrite] ${c}\n`);
    log(`meson.build rewritten (${changes.length} edits, listed in ${logFile})`);

    const mesonArgs = [
      'setup',
      buildDir,
      workerDir,
      '--buildtype=release',
      '-Db_ndebug=true',
      '--wrap-mode=nodownload',
    ];
    const options = fs.existsSync(path.join(workerDir, 'meson_options.txt'))
      ? fs.readFileSync(path.join(workerDir, 'meson_options.txt'), 'utf8')
      : '';

    if (needs.liburing) {
      if (/\bms_disable_liburing\b/.test(options)) {
        // io_uring is optional in mediasoup; Debian 12's liburing (2.3) is
        // older than the one mediasoup pins and io_uring is often blocked
        // in containers anyway.
        mesonArgs.push('-Dms_disable_liburing=true');
      } else {
        needs.apt.add('liburing-dev');
      }
    }

    if (needs.apt.size) ensureAptPackages([...needs.apt]);

    if (process.env.STREAMMESH_MEDIASOUP_MESON_ARGS) {
      mesonArgs.push(...process.env.STREAMMESH_MEDIASOUP_MESON_ARGS.split(/\s+/).filter(Boolean));
    }

    // 4. Configure and build.
    const env = { ...process.env, LC_ALL: 'C' };

    delete env.MESON_ARGS;
    log(`configuring (meson ${meson.version.join('.')}) ...`);

    let code = await runLogged(meson.bin, mesonArgs, {
      cwd: tmpRoot,
      env,
      logFile,
      progress: false,
    });

    if (code !== 0)
      fail(`meson setup failed (exit ${code}). Last lines of ${logFile}:\n${tailOfFile(logFile)}`);

    const jobs =
      Number(process.env.STREAMMESH_MEDIASOUP_JOBS) ||
      os.availableParallelism?.() ||
      os.cpus().length ||
      2;

    // The FlatBuffers headers first, as mediasoup's tasks.py does: nothing in
    // meson.build orders them before the sources that include them.
    log('generating FlatBuffers headers (flatc) ...');
    code = await runLogged(meson.bin, ['compile', '-C', buildDir, 'flatbuffers-generator'], {
      cwd: tmpRoot,
      env,
      logFile,
      progress: false,
    });

    if (code !== 0)
      fail(`flatc failed (exit ${code}). Last lines of ${logFile}:\n${tailOfFile(logFile)}`);

    log(`compiling with -j${jobs} (takes a few minutes) ...`);
    code = await runLogged(
      meson.bin,
      ['compile', '-C', buildDir, `-j${jobs}`, 'mediasoup-worker'],
      { cwd: tmpRoot, env, logFile, progress: true },
    );

    if (code !== 0)
      fail(`compilation failed (exit ${code}). Last lines of ${logFile}:\n${tailOfFile(logFile)}`);

    const built = path.join(buildDir, 'mediasoup-worker');

    if (!workerRuns(built))
      fail(`the built binary ${built} does not run (expected exit code 41 without env)`);

    installBinary(built, destBin);

    if (!workerRuns(destBin)) fail(`${destBin} does not run after copying`);

    ok = true;
    log(`build finished in ${fmtSeconds(Date.now() - started)}`);

    const apt = [...BASE_APT_PACKAGES, ...needs.apt].map(
      (p) => `${p}=${dpkgInstalledVersion(p) ?? '?'}`,
    );

    return {
      apt,
      meson: meson.version.join('.'),
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    if (ok && !opts.keepBuildDir) {
      fs.rmSync(tmpRoot, { recursive: true, force: true });
    } else if (!ok) {
      console.error(`${TAG} build directory kept for inspection: ${tmpRoot}`);
    } else {
      log(`build directory kept: ${tmpRoot}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Main.

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  if (opts.help) {
    printHelp();

    return 0;
  }

  const msDir = opts.mediasoupDir;
  const pkgFile = path.join(msDir, 'package.json');

  if (!fs.existsSync(pkgFile)) {
    warn(`mediasoup is not installed (${pkgFile} not found); nothing to do`);

    return 0;
  }

  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  const destBin = path.join(msDir, 'worker', 'out', 'Release', 'mediasoup-worker');
  const platformKey = `${os.platform()}-${os.arch()}`;
  const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const cacheDir = path.join(cacheRoot, 'streammesh', 'mediasoup-worker', pkg.version, platformKey);
  const cacheBin = path.join(cacheDir, 'mediasoup-worker');
  const done = (source, detail) => {
    log(`mediasoup ${pkg.version} worker ready (source: ${source}): ${detail}`);

    return 0;
  };

  // 1. Already there.
  if (!opts.force && fs.existsSync(destBin)) {
    if (workerRuns(destBin)) return done('existing', destBin);

    warn(`${destBin} exists but does not run; replacing it`);
  }

  // 2. Custom binary given by the user.
  if (!opts.force && process.env.MEDIASOUP_WORKER_BIN) {
    if (fs.existsSync(process.env.MEDIASOUP_WORKER_BIN)) {
      return done('MEDIASOUP_WORKER_BIN', process.env.MEDIASOUP_WORKER_BIN);
    }

    warn(`MEDIASOUP_WORKER_BIN=${process.env.MEDIASOUP_WORKER_BIN} does not exist; ignoring it`);
  }

  // 3. Cache.
  if (opts.cache && !opts.force && fs.existsSync(cacheBin) && !cachedRecipeIsCurrent(cacheDir)) {
    warn(`ignoring the cached binary ${cacheBin}: built by an older recipe`);
  } else if (opts.cache && !opts.force && fs.existsSync(cacheBin)) {
    let usable = workerRuns(cacheBin);

    if (!usable && os.platform() === 'linux' && which('dpkg')) {
      // Maybe its shared libraries were removed: reinstall them and retry.
      warn('the cached binary does not run; making sure its libraries are installed');

      try {
        ensureAptPackages(BASE_APT_PACKAGES);
        usable = workerRuns(cacheBin);
      } catch (error) {
        warn(error.message);
      }
    }

    if (usable) {
      installBinary(cacheBin, destBin);

      if (workerRuns(destBin)) return done('cache', `${cacheBin} -> ${destBin}`);
    }

    warn(`ignoring the unusable cached binary ${cacheBin}`);
  }

  // 4. Prebuilt from mediasoup's GitHub release.
  if (opts.prebuilt) {
    if (await fetchPrebuilt(pkg, destBin)) {
      if (opts.cache)
        writeCache(cacheDir, destBin, {
          source: 'prebuilt',
          mediasoup: pkg.version,
          platform: platformKey,
        });

      return done('prebuilt', destBin);
    }
  } else {
    log('prebuilt download skipped');
  }

  // 5. Offline build.
  const info = await buildWorker(msDir, pkg, destBin, opts);

  if (opts.cache) {
    writeCache(cacheDir, destBin, {
      source: 'built',
      recipe: RECIPE_VERSION,
      mediasoup: pkg.version,
      platform: platformKey,
      os: osRelease().PRETTY_NAME,
      ...info,
    });
  }

  return done('built', destBin);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof Failure) {
      console.error(`${TAG} FAILED: ${error.message}`);
    } else {
      console.error(`${TAG} FAILED:`, error);
    }

    console.error(
      `${TAG} mediasoup cannot start workers until this succeeds. ` +
        'Fix the problem and run: node scripts/mediasoup-worker.mjs ' +
        '(or set MEDIASOUP_WORKER_BIN to a mediasoup-worker binary).',
    );
    process.exit(1);
  },
);
