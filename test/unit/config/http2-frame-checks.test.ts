/**
 * A listener's checkHttp2Frames: the three modes, the default, the older
 * boolean spellings, and a clear message for anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpSchema } from '../../../src/config/http-schema.js';

function parsed(setting: unknown): ReturnType<typeof httpSchema.safeParse> {
  const listener = { name: 'edge', listen: '127.0.0.1:8080' };
  return httpSchema.safeParse({
    listeners: [setting === undefined ? listener : { ...listener, checkHttp2Frames: setting }],
  });
}

describe('checkHttp2Frames', () => {
  it("defaults to 'nghttp2' (node's native socket path, refusals watched)", () => {
    const result = parsed(undefined);
    assert.ok(result.success);
    assert.equal(result.data.listeners[0]?.checkHttp2Frames, 'nghttp2');
  });

  it('takes each mode and the older booleans as given', () => {
    for (const setting of ['nghttp2', 'guard', 'off', true, false]) {
      const result = parsed(setting);
      assert.ok(result.success, String(setting));
      assert.equal(result.data.listeners[0]?.checkHttp2Frames, setting);
    }
  });

  it('refuses anything else, naming the modes', () => {
    for (const setting of ['native', 'GUARD', 1, null, {}]) {
      const result = parsed(setting);
      if (result.success) assert.fail(`${JSON.stringify(setting)} was taken`);
      const [issue] = result.error.issues;
      assert.ok(issue !== undefined);
      assert.deepEqual(issue.path, ['listeners', 0, 'checkHttp2Frames']);
      assert.match(
        issue.message,
        /'nghttp2', 'guard', 'off', or true \('guard'\) \/ false \('off'\)/,
      );
    }
  });
});
