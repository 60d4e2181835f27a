/** An edge token from a control plane's POST /tokens, for the edge token tests. */
import assert from 'node:assert/strict';
import type { TokenAnswer } from '../../src/control-plane/tokens/index.js';
import type { MintRequest } from '../../src/shared/edge-token/index.js';

export async function postToken(
  adminUrl: string,
  adminToken: string,
  request: MintRequest,
): Promise<string> {
  const response = await fetch(`${adminUrl}/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const text = await response.text();
  assert.equal(response.status, 201, text);
  return (JSON.parse(text) as TokenAnswer).token;
}
