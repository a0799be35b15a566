// Web player benchmark: first contentful paint of the sign-in page and of the library (signed in), through
// nginx on loopback, median of 15 cold loads each (a fresh browser context per load, so no HTTP cache), and
// the gzipped size of JS + CSS as nginx sends them.
// Usage: (cd frontend && npm run build) && node bench/frontend.mjs      (uses target/debug/fermata or FERMATA_BIN)
import http from 'node:http';
import { ADMIN, startStack } from '../frontend/tests/harness.mjs';

const LOADS = 15;
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stack = await startStack();
try {
  const fcp = async (page) =>
    page.evaluate(() => new Promise((resolve) => {
      const seen = performance.getEntriesByName('first-contentful-paint')[0];
      if (seen) return resolve(seen.startTime);
      new PerformanceObserver((list) => resolve(list.getEntries()[0].startTime)).observe({ type: 'paint', buffered: true });
    }));
  const signIn = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await stack.browser.newContext({ baseURL: stack.url });
    const page = await context.newPage();
    await page.goto('/login');
    signIn.push(await fcp(page));
    await context.close();
  }
  const login = await stack.browser.newContext({ baseURL: stack.url });
  const page = await login.newPage();
  await page.goto('/login');
  await page.getByLabel('Username or email').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Songs' }).waitFor();
  const state = await login.storageState();
  const library = [];
  const ready = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await stack.browser.newContext({ baseURL: stack.url, storageState: state });
    const p = await context.newPage();
    const started = Date.now();
    await p.goto('/');
    await p.getByRole('heading', { name: 'Songs' }).waitFor();
    ready.push(Date.now() - started);
    library.push(await fcp(p));
    await context.close();
  }
  // Bytes on the wire, compressed by nginx (fetch would decompress them).
  const wire = (url) => new Promise((resolve, reject) => {
    http.get(url, { headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => (bytes += chunk.length));
      response.on('end', () => resolve(bytes));
    }).on('error', reject);
  });
  let gzipped = 0;
  const html = await (await fetch(`${stack.url}/`)).text();
  for (const asset of html.match(/\/assets\/[^"]+/g)) gzipped += await wire(`${stack.url}${asset}`);
  console.log(`| page | first contentful paint, median of ${LOADS} | app ready (heading shown), median |`);
  console.log('|---|---|---|');
  console.log(`| sign-in (cold) | ${median(signIn).toFixed(0)} ms | |`);
  console.log(`| library, signed in (cold) | ${median(library).toFixed(0)} ms | ${median(ready)} ms |`);
  console.log(`\nJS + CSS as nginx sends them (gzip): ${(gzipped / 1024).toFixed(1)} KiB`);
} finally {
  await stack.stop();
}
