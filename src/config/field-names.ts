/**
 * The fields the config accepts at a path, read from its JSON Schema, so a
 * mistyped field can be answered with the one meant ("did you mean
 * `listen`?"). The schema is inline (no $ref), so walking it is direct.
 */
import { closestName } from '../shared/did-you-mean.js';
import { meshConfigJsonSchema } from './schema.js';

interface SchemaNode {
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly oneOf?: readonly SchemaNode[];
  readonly allOf?: readonly SchemaNode[];
}

let root: SchemaNode | undefined;

/** The field of the mapping at `path` closest to `field`, if one is close enough. */
export function suggestField(path: readonly PropertyKey[], field: string): string | undefined {
  root ??= meshConfigJsonSchema() as SchemaNode;
  let nodes: readonly SchemaNode[] = [root];
  for (const key of path) {
    nodes = nodes.flatMap(alternatives).flatMap((node) => {
      const next = typeof key === 'number' ? node.items : node.properties?.[String(key)];
      return next === undefined ? [] : [next];
    });
  }
  const known = nodes.flatMap(alternatives).flatMap((node) => Object.keys(node.properties ?? {}));
  return closestName(field, known);
}

/** A node and the schemas it is a union or intersection of. */
function alternatives(node: SchemaNode): SchemaNode[] {
  const nested = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  return [node, ...nested.flatMap(alternatives)];
}
