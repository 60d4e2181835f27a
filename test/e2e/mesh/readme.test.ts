/**
 * The README's quick start is the promise to a newcomer: exactly two command
 * lines, the second being what CI runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot, runStreammesh } from '../../helpers/process.js';

function quickStartLines(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## Quick start$/m)[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

describe('README quick start', () => {
  it('has exactly two command lines: run the mesh, then install and run the tests', () => {
    const lines = quickStartLines();
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /streammesh up$/);
    assert.match(lines[1] ?? '', /npm run test:all$/);
  });

  it('.ci/run runs the second line', () => {
    const ci = readFileSync(join(repoRoot, '.ci', 'run'), 'utf8');
    assert.ok(ci.includes(quickStartLines()[1] ?? '\0'));
  });

  it('every command has --help', async () => {
    for (const command of ['up', 'control-plane', 'proxy', 'signaling', 'config']) {
      const result = await runStreammesh([command, '--help']);
      assert.equal(result.code, 0, command);
      assert.match(result.stdout, new RegExp(`^usage: streammesh ${command}`));
    }
    const general = await runStreammesh(['--help']);
    assert.equal(general.code, 0);
    assert.match(general.stdout, /commands:\n {2}up/);
  });
});
