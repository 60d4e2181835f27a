/**
 * The CRDs in helm/streammesh/crds are what the generator writes (run
 * `npm run build && node scripts/generate-crds.mjs` after changing the
 * schemas), and they keep the API server permissive under spec: zod is the
 * real gate, so the API server must store what zod refuses.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  crdManifests,
  crdYaml,
} from '../../../../src/control-plane/kubernetes/custom-resources/index.js';
import { repoRoot } from '../../../helpers/process.js';

const dir = join(repoRoot, 'helm', 'streammesh', 'crds');

describe('custom resource definitions', () => {
  it('the committed files are the generated ones', () => {
    const generated = crdYaml();
    const committed = readdirSync(dir).filter((name) => name.endsWith('.streammesh.io.yaml'));
    assert.deepEqual(committed.sort(), [...generated.keys()].sort());
    for (const [name, text] of generated) {
      assert.equal(
        readFileSync(join(dir, name), 'utf8'),
        text,
        `${name} drifted from the generator: run npm run build && node scripts/generate-crds.mjs`,
      );
    }
  });

  it('spec keeps any value; status is a subresource with typed conditions', () => {
    for (const manifest of crdManifests()) {
      const version = (manifest as { spec: { versions: Record<string, unknown>[] } }).spec
        .versions[0];
      assert.ok(version !== undefined);
      assert.deepEqual(version['subresources'], { status: {} });
      const schema = (
        version['schema'] as {
          openAPIV3Schema: {
            properties: Record<string, Record<string, unknown>>;
            required?: unknown;
          };
        }
      ).openAPIV3Schema;
      assert.equal(schema.required, undefined, 'a missing spec is stored, and refused in status');
      const spec = schema.properties['spec'];
      assert.ok(spec !== undefined);
      assert.equal(spec['x-kubernetes-preserve-unknown-fields'], true);
      for (const [field, property] of Object.entries(
        spec['properties'] as Record<string, Record<string, unknown>>,
      )) {
        assert.equal(property['type'], undefined, `spec.${field} has no type: zod checks it`);
        assert.equal(typeof property['description'], 'string', `spec.${field} is described`);
      }
      const columns = (version['additionalPrinterColumns'] as { name: string }[]).map(
        (column) => column.name,
      );
      assert.deepEqual(columns.slice(-3), ['Accepted', 'Programmed', 'Age']);
    }
  });
});
