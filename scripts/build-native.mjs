#!/usr/bin/env node
/**
 * `npm ci` / `npm install` step: build pinrec's optional native kernels (src/native/kernels.c) with node-gyp.
 * Never fails the install: without a C compiler (or with PINREC_NATIVE=0) the library uses its JavaScript
 * kernels, which compute the same results, and `nativeInfo()` says why the native path is off.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const report = path.join(root, 'build', 'native-build.json');
const write = (o) => { mkdirSync(path.dirname(report), { recursive: true }); writeFileSync(report, JSON.stringify(o, null, 2) + '\n'); };

if (process.env.PINREC_NATIVE === '0') {
  write({ built: false, reason: 'PINREC_NATIVE=0 at install time' });
  process.exit(0);
}
// npm exposes its bundled node-gyp to lifecycle scripts (npm_config_node_gyp); outside npm try PATH.
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));
// Headers: npm's nodedir setting, else the ones installed beside this node (a distribution's node package),
// else node-gyp downloads them (which needs the network).
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(path.join(prefix, 'include', 'node', 'common.gypi')) ? prefix : undefined);
const gypArgs = ['rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const [cmd, args] = candidates.length > 0 ? [process.execPath, [candidates[0], ...gypArgs]] : ['node-gyp', gypArgs];
const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (r.status === 0 && existsSync(path.join(root, 'build', 'Release', 'pinrec_native.node'))) {
  write({ built: true });
} else {
  const tail = `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n');
  write({ built: false, reason: `node-gyp rebuild failed: ${tail}` });
  process.stderr.write(`pinrec: the native kernels did not build; using the JavaScript kernels (same results, slower).\n${tail}\n`);
}
