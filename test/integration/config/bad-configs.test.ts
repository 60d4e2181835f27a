/**
 * Every file in test/fixtures/bad-configs is a config a user could write by
 * mistake. Its first line says the message streammesh must print; the command
 * must exit 2 and start nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot, runStreammesh } from '../../helpers/process.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'bad-configs');
const files = readdirSync(fixtures).filter((name) => name.endsWith('.yaml'));

function expectedMessage(file: string): string {
  const firstLine = readFileSync(join(fixtures, file), 'utf8').split('\n')[0] ?? '';
  const match = /^# expect: (.+)$/.exec(firstLine);
  assert.ok(match?.[1], `${file} must start with "# expect: <message>"`);
  return match[1];
}

describe('bad configs are rejected with a clear message and exit code 2', () => {
  it('has about twenty distinct cases, each with its own message', () => {
    assert.ok(files.length >= 20, `only ${files.length} fixtures`);
    const messages = new Set(files.map(expectedMessage));
    // Two fixtures may share a message only if they are the same mistake.
    assert.ok(messages.size >= files.length - 1, 'messages are not distinct');
  });

  for (const file of files) {
    it(`config validate ${file}`, async () => {
      const path = join('test', 'fixtures', 'bad-configs', file);
      const result = await runStreammesh(['config', 'validate', path]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trim(), `${path}: ${expectedMessage(file)}`);
      assert.equal(result.stdout, '');
    });
  }

  it('up with a bad config exits 2 at once and starts no role', async () => {
    const path = join('test', 'fixtures', 'bad-configs', 'rtp-ports-reversed.yaml');
    const started = Date.now();
    const result = await runStreammesh(['up', '--config', path]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim(), `${path}: proxy.rtpPorts: start must be <= end`);
    assert.doesNotMatch(result.stdout, /ready/);
    assert.ok(Date.now() - started < 5_000);
  });

  it('a single role with a bad config exits 2', async () => {
    const path = join('test', 'fixtures', 'bad-configs', 'log-level-invalid.yaml');
    const result = await runStreammesh(['proxy', '--config', path]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /logLevel: must be one of/);
  });

  it('names a missing file', async () => {
    const result = await runStreammesh(['config', 'validate', 'no-such-mesh.yaml']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^no-such-mesh\.yaml: cannot read: .*ENOENT/);
  });

  it('names the environment variable that set a bad value', async () => {
    const result = await runStreammesh(['up'], { STREAMMESH_PROXY_ADMIN: 'not-an-address' });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      '(defaults): proxy.admin (from STREAMMESH_PROXY_ADMIN): "not-an-address" is not host:port (IPv6 hosts in brackets: [::1]:7700)',
    );
  });

  it('rejects an unknown command and unknown options with exit 2', async () => {
    assert.equal((await runStreammesh(['launch'])).code, 2);
    assert.equal((await runStreammesh(['up', '--colour'])).code, 2);
    assert.equal((await runStreammesh(['config', 'validate'])).code, 2);
  });
});
