// The places a module names another: static imports, re-exports and dynamic
// imports with a literal specifier. Each import rule checks the same ones.

/** ESLint visitors calling `check(node, specifier)` for every import of a module. */
export function visitImports(check) {
  return {
    ImportDeclaration(node) {
      check(node.source, node.source.value);
    },
    ExportNamedDeclaration(node) {
      if (node.source) check(node.source, node.source.value);
    },
    ExportAllDeclaration(node) {
      check(node.source, node.source.value);
    },
    ImportExpression(node) {
      if (node.source.type === 'Literal') check(node.source, node.source.value);
    },
  };
}
