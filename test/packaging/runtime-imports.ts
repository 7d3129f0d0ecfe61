import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import * as path from 'node:path';
import * as ts from 'typescript';

/** One package a source file loads at run time. */
export interface RuntimeImport {
  /** The package name: `zod`, `@sluice/core` (a subpath such as `@sluice/core/testing` counts as its package). */
  readonly pkg: string;
  /** The file that imports it, relative to the scanned directory. */
  readonly file: string;
}

/**
 * Every package (not a relative path, not a Node built-in) that the
 * TypeScript sources under `dir` load at run time: value imports and
 * re-exports, side-effect imports, and `require('literal')`. Type-only
 * imports and exports are left out, since the compiler erases them.
 */
export function runtimeImports(dir: string): RuntimeImport[] {
  const found: RuntimeImport[] = [];
  for (const file of tsFiles(dir)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const add = (specifier: string): void => {
      if (specifier.startsWith('.') || isBuiltin(specifier)) return;
      found.push({ pkg: packageOf(specifier), file: path.relative(dir, file) });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !node.importClause?.isTypeOnly) {
        // `import { type A, type B } from 'x'` is erased as well.
        const bindings = node.importClause?.namedBindings;
        const allTypes =
          node.importClause !== undefined &&
          node.importClause.name === undefined &&
          bindings !== undefined &&
          ts.isNamedImports(bindings) &&
          bindings.elements.length > 0 &&
          bindings.elements.every((e) => e.isTypeOnly);
        if (!allTypes) add(node.moduleSpecifier.text);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
        add(node.moduleSpecifier.text);
      } else if (
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'require' &&
        node.arguments.length === 1 &&
        ts.isStringLiteral(node.arguments[0]!)
      ) {
        add((node.arguments[0] as ts.StringLiteral).text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}
