/**
 * pinrec's published declarations for `pinrec/embeddings` must not pull in `@tensorflow/tfjs`'s own types: those
 * do not type-check without `skipLibCheck` (DOM/WebGL/WebGPU names), so a strict consumer would fail. Emits the
 * declarations of src/embeddings in memory with the TypeScript compiler API and follows the imports reachable
 * from the entry point.
 */
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

function emitDeclarations(entry: string): Map<string, string> {
  const cfg = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); },
  })!;
  const options: ts.CompilerOptions = {
    ...cfg.options, declaration: true, emitDeclarationOnly: true, declarationMap: false, sourceMap: false, noEmit: false,
    outDir: '/virtual-dts', rootDir: SRC, skipLibCheck: true, incremental: false, composite: false,
  };
  const program = ts.createProgram([entry], options);
  const out = new Map<string, string>();
  // Comments are dropped: only real imports count (doc comments may mention the package).
  const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  program.emit(undefined, (file, text) => { out.set(path.relative('/virtual-dts', file).split(path.sep).join('/'), code(text)); }, undefined, true);
  return out;
}

/** The .d.ts files reachable from `start` through relative imports and re-exports. */
function reachable(files: Map<string, string>, start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f) || !files.has(f)) continue;
    seen.add(f);
    for (const m of files.get(f)!.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      todo.push(path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1].replace(/\.js$/, '.d.ts'))));
    }
  }
  return seen;
}

describe('public declarations of pinrec/embeddings', () => {
  it('reach no @tensorflow types', () => {
    const files = emitDeclarations(path.join(SRC, 'embeddings/index.ts'));
    expect(files.has('embeddings/index.d.ts')).toBe(true);
    const pub = reachable(files, 'embeddings/index.d.ts');
    expect(pub.has('embeddings/backend.d.ts')).toBe(true);
    const leaking = [...pub].filter((f) => /(?:from|import)\s*\(?\s*['"]@tensorflow\//.test(files.get(f)!));
    expect(leaking).toEqual([]);
    // The handle's namespace is typed with pinrec's own structural type.
    expect(files.get('embeddings/backend.d.ts')).toMatch(/tf: TfLike;/);
  }, 120_000);
});
