/**
 * The admin token (src/shared/admin/credentials.ts): created once with mode
 * 0600 in a 0700 directory, kept across starts, taken from
 * STREAMMESH_ADMIN_TOKEN first, refused when others may read the file or it
 * is too short; Authorization headers checked exactly.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AdminCredentials,
  AdminTokenError,
  defaultAdminTokenFile,
} from '../../../src/shared/admin/index.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'streammesh-token-'));
}

describe('admin credentials', () => {
  it('the control plane creates a private token file once and keeps it', () => {
    const file = join(tempDir(), 'state', 'admin-token');
    const first = AdminCredentials.ensure({ file, env: {} });
    const token = readFileSync(file, 'utf8').trim();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
    assert.ok(first.verify(`Bearer ${token}`));
    AdminCredentials.ensure({ file, env: {} });
    assert.equal(readFileSync(file, 'utf8').trim(), token, 'a second start keeps the token');
    assert.equal(first.describe(), file);
  });

  it('a node reads the file when it appears', () => {
    const file = join(tempDir(), 'admin-token');
    const node = AdminCredentials.reader({ file, env: {} });
    assert.equal(node.available(), false);
    assert.equal(node.verify('Bearer anything-at-all-long'), false);
    AdminCredentials.ensure({ file, env: {} });
    assert.ok(node.available());
    assert.ok(node.verify(`Bearer ${readFileSync(file, 'utf8').trim()}`));
  });

  it('verifies the exact token only', () => {
    const token = 'a-test-token-of-enough-length';
    const credentials = AdminCredentials.ofToken(token);
    assert.ok(credentials.verify(`Bearer ${token}`));
    assert.ok(credentials.verify(`bearer ${token}`));
    for (const header of [
      undefined,
      '',
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token} extra`,
      'Bearer ',
    ]) {
      assert.equal(credentials.verify(header), false, String(header));
    }
  });

  it('STREAMMESH_ADMIN_TOKEN wins over the file, and no file is made', () => {
    const file = join(tempDir(), 'admin-token');
    const token = 'from-the-environment-0123';
    const credentials = AdminCredentials.ensure({ file, env: { STREAMMESH_ADMIN_TOKEN: token } });
    assert.ok(credentials.verify(`Bearer ${token}`));
    assert.equal(credentials.describe(), '$STREAMMESH_ADMIN_TOKEN');
    assert.throws(() => statSync(file), /ENOENT/);
  });

  it('refuses a token file others may read, and a short token', () => {
    const dir = tempDir();
    const file = join(dir, 'admin-token');
    writeFileSync(file, 'a-token-others-can-read-0123\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    assert.throws(() => AdminCredentials.ensure({ file, env: {} }), /mode 644\); make it 0600/);
    const short = join(dir, 'short-token');
    writeFileSync(short, 'short\n', { mode: 0o600 });
    assert.throws(() => AdminCredentials.ensure({ file: short, env: {} }), AdminTokenError);
    assert.throws(
      () => AdminCredentials.reader({ env: { STREAMMESH_ADMIN_TOKEN: 'short' } }),
      /STREAMMESH_ADMIN_TOKEN: an admin token is at least 16 characters/,
    );
  });

  it('defaults to the XDG state directory', () => {
    assert.equal(
      defaultAdminTokenFile({ XDG_STATE_HOME: '/state' }),
      '/state/streammesh/admin-token',
    );
    assert.match(defaultAdminTokenFile({}), /\/\.local\/state\/streammesh\/admin-token$/);
  });
});
