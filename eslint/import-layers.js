// The one direction of imports (DESIGN.md section 1), as an ESLint rule: each
// layer of the tree may import only the layers listed for it. Relative
// specifiers are resolved against the importing file, so a rename or a deep
// `../../..` path cannot slip past a string pattern.
//
//   src/shared  <-  src/protocol  <-  src/config  <-  src/media, src/node-agent, src/control-plane
//   rtp-proxy/ and signaling/ stand on src/ side by side (never on each other,
//   never on the control plane); src/cli sits on top and may start any role.
//   Inside the proxy, the media data plane and the L7 proxy stay apart.
import path from 'node:path';
import { visitImports } from './visit-imports.js';

const ground = ['src/shared', 'src/protocol', 'src/config'];

/** Layer -> the layers it may import (its own always included). First match of a file wins. */
export const layers = [
  { layer: 'src/shared', may: [] },
  { layer: 'src/protocol', may: ['src/shared'] },
  { layer: 'src/config', may: ['src/shared', 'src/protocol'] },
  { layer: 'src/media', may: ground },
  { layer: 'src/node-agent', may: ground },
  { layer: 'src/control-plane', may: ground },
  { layer: 'rtp-proxy/media', may: [...ground, 'src/media', 'src/node-agent'] },
  { layer: 'rtp-proxy/l7', may: [...ground, 'src/media', 'src/node-agent'] },
  {
    layer: 'rtp-proxy',
    may: [...ground, 'src/media', 'src/node-agent', 'rtp-proxy/media', 'rtp-proxy/l7'],
  },
  { layer: 'signaling', may: [...ground, 'src/media', 'src/node-agent'] },
  {
    layer: 'src/cli',
    may: [...ground, 'src/media', 'src/node-agent', 'src/control-plane', 'rtp-proxy', 'signaling'],
  },
];

/** The layers of the product; tests and load tests may import any of them, but not the reverse. */
const productRoots = ['src', 'rtp-proxy', 'signaling'];

function layerOf(relativePath) {
  const normalized = relativePath.split(path.sep).join('/');
  return layers.find(({ layer }) => normalized === layer || normalized.startsWith(`${layer}/`));
}

function inside(relativePath, layer) {
  return relativePath === layer || relativePath.startsWith(`${layer}/`);
}

/** @type {import('eslint').Rule.RuleModule} */
export const importLayersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Imports follow the layers of the architecture (one direction).' },
    schema: [
      { type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false },
    ],
    messages: {
      forbidden:
        '{{from}} may not import {{to}}: {{layer}} stands on {{allowed}} only (DESIGN.md: imports go one way).',
      productImportsTests:
        '{{from}} may not import {{to}}: the product never imports tests or load tests.',
    },
  },
  create(context) {
    const root = path.resolve(context.options[0]?.root ?? context.cwd);
    const file = path.relative(root, context.filename).split(path.sep).join('/');
    const own = layerOf(file);
    const isProduct = productRoots.some((r) => inside(file, r));
    if (!isProduct) return {};

    function check(node, specifier) {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const target = path
        .relative(root, path.resolve(path.dirname(context.filename), specifier))
        .split(path.sep)
        .join('/');
      if (!productRoots.some((r) => inside(target, r))) {
        if (target.startsWith('test/') || target.startsWith('loadtests/')) {
          context.report({
            node,
            messageId: 'productImportsTests',
            data: { from: file, to: target },
          });
        }
        return;
      }
      if (own === undefined) return;
      const targetLayer = layerOf(target);
      // Within one layer anything goes, except the proxy's two planes, which
      // are layers of their own nested in rtp-proxy.
      if (targetLayer?.layer === own.layer) return;
      if (targetLayer !== undefined && own.may.includes(targetLayer.layer)) return;
      context.report({
        node,
        messageId: 'forbidden',
        data: {
          from: file,
          to: target,
          layer: own.layer,
          allowed: own.may.length === 0 ? 'nothing else' : own.may.join(', '),
        },
      });
    }

    return visitImports(check);
  },
};
