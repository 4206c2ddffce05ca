// The production install footprint: `npm ci --omit=dev` of this package.json + lock in a temporary folder,
// `du -sk node_modules`, then the same with the embedder's optional packages added (TF.js at the versions in
// devDependencies). `--ref <git ref>` measures an older commit's package.json + lock as well (the "before").
// Prints a table; with --json, one JSON object as the last stdout line. Needs the npm registry (or its cache).
//
//   node scripts/install-size.mjs [--ref <git ref>] [--json]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const args = process.argv.slice(2);
const json = args.includes('--json');
const refAt = args.indexOf('--ref');
const ref = refAt >= 0 ? args[refAt + 1] : undefined;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const log = (s) => process.stderr.write(s + '\n');

function npm(cwd, argv) {
  const r = spawnSync('npm', argv, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  if (r.status !== 0) throw new Error(`npm ${argv.join(' ')} failed in ${cwd}: ${r.stderr.split('\n').filter((l) => /error/i.test(l)).slice(0, 5).join(' | ')}`);
}
function duMb(dir) {
  return Math.round(Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024);
}
function biggest(dir, n = 6) {
  const out = execFileSync('sh', ['-c', `du -sk ${dir}/* ${dir}/@*/* 2>/dev/null | sort -rn | head -${n}`], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => { const [kb, p] = l.split('\t'); return `${path.relative(dir, p)} ${Math.round(Number(kb) / 1024)} MB`; });
}
function measure(label, pkgJson, lock, extra) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pinrec-size-'));
  try {
    writeFileSync(path.join(dir, 'package.json'), pkgJson);
    writeFileSync(path.join(dir, 'package-lock.json'), lock);
    log(`${label}: npm ci --omit=dev in ${dir}`);
    // --ignore-scripts: the package's own install/prepare scripts build into build/ and dist/, not node_modules
    npm(dir, ['ci', '--omit=dev', '--ignore-scripts']);
    const rows = [{ install: label, mb: duMb(path.join(dir, 'node_modules')), largest: biggest(path.join(dir, 'node_modules')).join(', ') }];
    if (extra.length > 0) {
      // as a user's project adds them: here they are devDependencies and (optional) peers, so drop those first
      const p = JSON.parse(pkgJson);
      delete p.devDependencies;
      delete p.peerDependencies;
      delete p.peerDependenciesMeta;
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify(p));
      npm(dir, ['install', '--ignore-scripts', ...extra]);
      rows.push({ install: `${label} + embedder (${extra.map((e) => e.replace(/@[^@]*$/, '')).join(', ')})`, mb: duMb(path.join(dir, 'node_modules')), largest: biggest(path.join(dir, 'node_modules')).join(', ') });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const embedder = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'].map((n) => `${n}@${pkg.devDependencies[n]}`);
const rows = [];
if (ref) {
  const show = (f) => execFileSync('git', ['show', `${ref}:${f}`], { cwd: root, encoding: 'utf8' });
  rows.push(...measure(`${ref}`, show('package.json'), show('package-lock.json'), []));
}
rows.push(...measure('this tree', readFileSync(path.join(root, 'package.json'), 'utf8'), readFileSync(path.join(root, 'package-lock.json'), 'utf8'), embedder));
for (const r of rows) log(`${r.install.padEnd(48)} ${String(r.mb).padStart(5)} MB   largest: ${r.largest}`);
const result = { benchmark: 'install-size', node: process.version, npm: execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim(), rows };
if (json) process.stdout.write(JSON.stringify(result) + '\n');
