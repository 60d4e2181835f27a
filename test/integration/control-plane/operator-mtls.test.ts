/**
 * Operators over mutual TLS (issue 17, point 6), against a real control
 * plane: `streammesh cert operator` (the real command) gets an operator
 * certificate with the admin token; on controlPlane.adminMtls that
 * certificate alone lets PUT /config and a drain through, while no
 * certificate or a node's certificate gets 401. The bootstrap token, which
 * every node of the machine can read, never certifies the operator's or the
 * token issuer's identity; and an identity that is not an operator's is
 * refused by the command.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { formatHostPort } from '../../../src/shared/address.js';
import { runStreammesh } from '../../helpers/process.js';
import {
  TRUST_DOMAIN,
  adminMtlsCall,
  certified,
  identityClient,
  issue,
  keyAndCsr,
  proxyId,
  startSecurePlane,
  type ClientCertificate,
  type SecurePlane,
} from './mtls-harness.js';

const OPERATOR_ID = `spiffe://${TRUST_DOMAIN}/ns/streammesh/sa/operator`;
const TOKEN_ISSUER_ID = `spiffe://${TRUST_DOMAIN}/ns/streammesh/sa/token-issuer`;

describe('operators over mutual TLS', () => {
  let secure: SecurePlane;
  let operator: ClientCertificate;
  let outDir: string;

  before(async () => {
    secure = await startSecurePlane({ adminMtls: true });
    outDir = join(secure.dir, 'operator');
  });

  after(async () => {
    await secure.close();
  });

  const commandEnv = (): Record<string, string> => ({
    STREAMMESH_CONTROL_PLANE_ADMIN: formatHostPort(secure.plane.admin),
    STREAMMESH_ADMIN_TOKEN: readFileSync(join(secure.dir, 'state', 'admin-token'), 'utf8').trim(),
    XDG_STATE_HOME: join(secure.dir, 'xdg'),
  });

  it('streammesh cert operator writes a key only its owner reads, a certificate and the bundle', async () => {
    const config = secure.file(`controlPlane:\n  trustDomain: ${TRUST_DOMAIN}\n`, 'cli.yaml');
    const result = await runStreammesh(
      ['cert', 'operator', '--out', outDir, '--config', config],
      commandEnv(),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${OPERATOR_ID} until \\d{4}-`));
    assert.equal(statSync(join(outDir, 'operator-key.pem')).mode & 0o777, 0o600);
    operator = {
      keyPem: readFileSync(join(outDir, 'operator-key.pem'), 'utf8'),
      certificatePem: readFileSync(join(outDir, 'operator.pem'), 'utf8'),
    };
    assert.equal(readFileSync(join(outDir, 'bundle.pem'), 'utf8'), secure.bundle);
  });

  it('refuses an identity that is not an operator', async () => {
    const config = secure.file(`controlPlane:\n  trustDomain: ${TRUST_DOMAIN}\n`, 'cli2.yaml');
    const result = await runStreammesh(
      [
        'cert',
        'operator',
        '--out',
        join(secure.dir, 'x'),
        '--name',
        'intruder',
        '--config',
        config,
      ],
      commandEnv(),
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /is not an operator identity/);
  });

  it('lets an operator certificate write the config and drain, and nobody else', async () => {
    const node = await certified(secure, proxyId(), 'proxy-a');
    const yaml = 'logLevel: debug\n';
    assert.equal(
      (await adminMtlsCall(secure, 'PUT', '/config', yaml, undefined, 'application/yaml')).status,
      401,
    );
    assert.equal(
      (await adminMtlsCall(secure, 'PUT', '/config', yaml, node, 'application/yaml')).status,
      401,
    );
    const written = await adminMtlsCall(
      secure,
      'PUT',
      '/config',
      yaml,
      operator,
      'application/yaml',
    );
    assert.equal(written.status, 200, written.text);
    const config = (await (await fetch(`${secure.adminUrl}/config`)).json()) as {
      config: { logLevel: string };
    };
    assert.equal(config.config.logLevel, 'debug');
    // Authorized, and then the node is unknown: 404, not 401.
    assert.equal((await adminMtlsCall(secure, 'POST', '/nodes/ghost/drain', '{}')).status, 401);
    assert.equal(
      (await adminMtlsCall(secure, 'POST', '/nodes/ghost/drain', '{}', operator)).status,
      404,
    );
  });

  it('never certifies the operator or the token issuer for the bootstrap token', async () => {
    const client = identityClient(secure);
    try {
      for (const id of [OPERATOR_ID, TOKEN_ISSUER_ID]) {
        const { csrPem } = await keyAndCsr(id);
        const answer = await issue(client, {
          csrPem,
          bootstrapToken: secure.bootstrapToken,
          nodeId: '',
        });
        assert.deepEqual(
          answer.ok ? 'certified' : answer.error.code,
          grpc.status.PERMISSION_DENIED,
          `${id} for the bootstrap token`,
        );
      }
    } finally {
      client.close();
    }
  });
});
