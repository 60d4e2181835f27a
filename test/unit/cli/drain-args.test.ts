/**
 * `streammesh drain`'s arguments: the deadline in its three spellings and
 * its bounds, exactly one node id, and where the control plane's admin and
 * token are found.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  adminTokenOf,
  adminUrlOf,
  DEFAULT_DEADLINE_SEC,
  DrainUsageError,
  MAX_DEADLINE_SEC,
  parseDeadline,
  parseDrainArgs,
} from '../../../src/cli/drain.js';
import { defaultConfig } from '../../../src/config/index.js';

describe('streammesh drain arguments', () => {
  it('reads plain seconds, s, m and h', () => {
    assert.equal(parseDeadline('90'), 90);
    assert.equal(parseDeadline('60s'), 60);
    assert.equal(parseDeadline('2m'), 120);
    assert.equal(parseDeadline('1h'), 3600);
  });

  it('refuses a deadline out of 1 s..1 h, or one it cannot read', () => {
    for (const bad of [
      '0',
      '0s',
      `${MAX_DEADLINE_SEC + 1}`,
      '61m',
      '2h',
      '2d',
      '-5',
      '1.5m',
      'soon',
      '',
      '60 s x',
    ]) {
      assert.throws(() => parseDeadline(bad), DrainUsageError, bad);
    }
  });

  it('takes exactly one node id, with the default deadline when none is given', () => {
    assert.deepEqual(parseDrainArgs(['proxy-a']), {
      node: 'proxy-a',
      deadlineSec: DEFAULT_DEADLINE_SEC,
    });
    assert.deepEqual(parseDrainArgs(['proxy-a'], '2m'), { node: 'proxy-a', deadlineSec: 120 });
    assert.throws(() => parseDrainArgs([]), /which node/);
    assert.throws(() => parseDrainArgs(['proxy-a', 'proxy-b']), /unexpected argument: proxy-b/);
  });

  it("reaches the control plane's admin where the config says, a wildcard on loopback", () => {
    const env = { STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.7:15999' };
    assert.equal(adminUrlOf(defaultConfig(env)), 'http://127.0.0.7:15999');
    const wildcard = { STREAMMESH_CONTROL_PLANE_ADMIN: '0.0.0.0:15100' };
    assert.equal(adminUrlOf(defaultConfig(wildcard)), 'http://127.0.0.1:15100');
  });

  it('takes the token from STREAMMESH_ADMIN_TOKEN, else from the token file', () => {
    const state = mkdtempSync(join(tmpdir(), 'drain-args-'));
    const env = { XDG_STATE_HOME: state };
    const config = defaultConfig(env);
    assert.throws(() => adminTokenOf(config, env), /no admin token/);
    const token = 'a-token-from-the-variable';
    assert.equal(adminTokenOf(config, { ...env, STREAMMESH_ADMIN_TOKEN: token }), token);
    const file = join(state, 'token');
    writeFileSync(file, 'a-token-from-the-file\n', { mode: 0o600 });
    const withFile = defaultConfig({ ...env });
    const fileConfig = {
      ...withFile,
      controlPlane: { ...withFile.controlPlane, adminTokenFile: file },
    };
    assert.equal(adminTokenOf(fileConfig, env), 'a-token-from-the-file');
  });
});
