// `npm ci` / `npm install` in a clone runs this (the `prepare` script): build dist/ with TypeScript. A
// production install of a clone (`npm ci --omit=dev`) has no TypeScript; it then says so instead of failing the
// install. (Installing the published package never runs it: the tarball already holds dist/.)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('pinrec: TypeScript is not installed (a --omit=dev install), so dist/ was not built; run `npm ci && npm run build` to build it\n');
  process.exit(0);
}
// the library, then the benchmarks (dist/bench/, what `pinrec bench` runs)
for (const config of ['tsconfig.build.json', 'tsconfig.bench.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
