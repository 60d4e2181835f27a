/**
 * The lines `up` prints for a role: why it could not start (from errors in
 * their many wrappings), and which of its log records reach the console.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consoleLine } from '../../../src/cli/up/role-output.js';
import { describeStartFailure } from '../../../src/cli/start-failure.js';
import { ResourcesRefusedError } from '../../../src/config/index.js';
import { closestName, editDistance } from '../../../src/shared/did-you-mean.js';

describe('describeStartFailure', () => {
  it("names the address of node's listen error", () => {
    const error = Object.assign(
      new Error('listen EADDRINUSE: address already in use 127.0.0.1:8554'),
      {
        code: 'EADDRINUSE',
      },
    );
    assert.equal(describeStartFailure(error), 'cannot listen on 127.0.0.1:8554 (address in use)');
  });

  it('names the address and the HTTP listener of a refused first config', () => {
    const error = new ResourcesRefusedError('update 1', [
      {
        type: 'HTTP_LISTENER',
        name: 'edge',
        reason:
          'l7: proxy.http.listeners edge 127.0.0.1:15001: listen EADDRINUSE: address already in use 127.0.0.1:15001',
      },
    ]);
    assert.equal(
      describeStartFailure(error),
      'cannot listen on 127.0.0.1:15001 for HTTP listener edge (address in use)',
    );
  });

  it('keeps the RTCP port of a relay route and the other causes', () => {
    const route = new ResourcesRefusedError('update 1', [
      {
        type: 'MEDIA_ROUTE',
        name: 'cam',
        reason: 'relay: proxy.routes cam: 127.0.0.1:5004 (or its RTCP port) is in use',
      },
    ]);
    assert.equal(
      describeStartFailure(route),
      'cannot listen on 127.0.0.1:5004 (or its RTCP port) for route cam (address in use)',
    );
    assert.equal(
      describeStartFailure(new Error('listen EACCES: permission denied 0.0.0.0:80')),
      'cannot listen on 0.0.0.0:80 (permission denied)',
    );
  });

  it('says what else went wrong as it is', () => {
    assert.equal(
      describeStartFailure(new Error('no config from the control plane')),
      'no config from the control plane',
    );
    const refused = new ResourcesRefusedError('update 1', [
      { type: 'MEDIA_ROUTE', name: 'cam', reason: 'bad' },
    ]);
    assert.equal(describeStartFailure(refused), 'config refused: MEDIA_ROUTE cam: bad');
  });
});

describe('consoleLine', () => {
  it('shows warnings and errors readably, a fatal record as the role says it, nothing below warn', () => {
    assert.equal(consoleLine('proxy', '{"level":30,"msg":"config applied"}'), undefined);
    assert.equal(
      consoleLine('proxy', '{"level":40,"msg":"camera unreachable"}'),
      'proxy         warn   camera unreachable',
    );
    assert.equal(
      consoleLine('signaling', '{"level":50,"msg":"worker died","err":{"message":"SIGKILL"}}'),
      'signaling     error  worker died: SIGKILL',
    );
    assert.equal(
      consoleLine('proxy', '{"level":60,"msg":"cannot listen on 127.0.0.1:1 (address in use)"}'),
      'proxy: cannot listen on 127.0.0.1:1 (address in use)',
    );
  });

  it('leaves lines that are not log records to the log file', () => {
    assert.equal(consoleLine('proxy', '    at Object.<anonymous> (/x.js:1:1)'), undefined);
    assert.equal(consoleLine('proxy', '{"not":"a record"}'), undefined);
    assert.equal(consoleLine('proxy', '{broken'), undefined);
  });
});

describe('closestName', () => {
  it('finds a near miss, not a far one', () => {
    assert.equal(closestName('lsiten', ['listen', 'admin']), 'listen');
    assert.equal(closestName('verbos', ['verbose', 'version', 'config']), 'verbose');
    assert.equal(closestName('xyz', ['listen', 'admin']), undefined);
    assert.equal(editDistance('ab', 'ba'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });
});
