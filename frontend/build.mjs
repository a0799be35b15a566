// Builds the web player into dist/: one JS bundle and one CSS file with content-hashed names (cached for a
// year by nginx), index.html pointing at them (revalidated), gzip twins for servers that send them as-is.
// Fails when JS + CSS gzipped pass the budget.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';

const BUDGET_BYTES = 150 * 1024;
const root = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await build({
  entryPoints: [path.join(root, 'src/main.js'), path.join(root, 'src/app.css')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  sourcemap: false,
  legalComments: 'none',
  entryNames: 'assets/[name]-[hash]',
  outdir: dist,
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const find = (entry) => {
  const hit = outputs.find(([, meta]) => meta.entryPoint && meta.entryPoint.endsWith(entry));
  if (!hit) throw new Error(`no output for ${entry}`);
  return '/' + path.relative(dist, path.resolve(hit[0]));
};
const js = find('src/main.js');
const css = find('src/app.css');

const page = (await readFile(path.join(root, 'index.html'), 'utf8'))
  .replace('/src/app.css', css)
  .replace('/src/main.js', js);
await writeFile(path.join(dist, 'index.html'), page);
await copyFile(path.join(root, 'favicon.svg'), path.join(dist, 'favicon.svg'));

let gzipped = 0;
for (const file of [js, css]) {
  const bytes = await readFile(path.join(dist, file));
  const gz = gzipSync(bytes, { level: 9 });
  gzipped += gz.length;
  await writeFile(path.join(dist, file + '.gz'), gz);
  console.log(`${file}: ${(bytes.length / 1024).toFixed(1)} KiB, ${(gz.length / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`JS + CSS gzipped: ${(gzipped / 1024).toFixed(1)} KiB (budget ${BUDGET_BYTES / 1024} KiB)`);
if (gzipped > BUDGET_BYTES) {
  console.error('over the size budget');
  process.exit(1);
}
