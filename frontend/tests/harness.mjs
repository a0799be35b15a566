// The end-to-end stack, natively: `fermata serve` (its embedded PostgreSQL, MEDIA_DELIVERY=x-accel) behind a
// real nginx built from nginx/native.conf.template with the shared locations and frontend/dist as its root,
// and Debian's Chromium driven by playwright-core. Nothing is mocked.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const frontendDir = path.resolve(new URL('..', import.meta.url).pathname);
const repo = path.dirname(frontendDir);
export const ADMIN = { username: 'admin', password: 'admin-password-e2e' };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function fermataBinary() {
  const candidates = [
    process.env.FERMATA_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug/fermata'),
    path.join(repo, 'target/debug/fermata'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no fermata binary (build it with cargo build, or set FERMATA_BIN); looked at ${candidates.join(', ')}`);
  return found;
}

export function chromiumPath() {
  const found = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean).find((p) => existsSync(p));
  if (!found) throw new Error('Chromium is not installed (apt-get install chromium)');
  return found;
}

async function waitFor(url, what, log) {
  for (let i = 0; i < 300; i++) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up: ${log ? readFileSync(log, 'utf8').slice(-3000) : ''}`);
}

/** Tagged audio files made by ffmpeg: `seconds` of a tone, unique per file. */
export function makeAudio(dir, name, { title, artist, album, seconds = 20, hz = 440, ext = 'mp3', track = 1 }) {
  const file = path.join(dir, `${name}.${ext}`);
  const codec = {
    mp3: ['-c:a', 'libmp3lame', '-b:a', '64k'],
    flac: ['-c:a', 'flac'],
    ogg: ['-c:a', 'libvorbis', '-q:a', '0'],
    // Apple Lossless: what Chromium cannot decode.
    m4a: ['-c:a', 'alac'],
  }[ext];
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '2', ...codec,
    '-metadata', `title=${title}`, '-metadata', `artist=${artist}`, '-metadata', `album=${album}`, '-metadata', `track=${track}`, file]);
  return file;
}

/** MAX_UPLOAD_BYTES of the backend and of nginx in front: small, so a test can send a file over it. */
export const UPLOAD_LIMIT = 8 * 1024 * 1024;
/** SUBSONIC_CREDENTIAL_KEY of the test stack (32 bytes, base64). */
export const SUBSONIC_KEY = Buffer.alloc(32, 7).toString('base64');

export async function startStack() {
  const dir = mkdtempSync(path.join(tmpdir(), 'fermata-e2e-'));
  // The embedded PostgreSQL runs as `postgres` and nginx's workers as `nobody` when we are root.
  chmodSync(dir, 0o755);
  const dist = path.join(frontendDir, 'dist');
  if (!existsSync(path.join(dist, 'index.html'))) throw new Error('frontend/dist is missing: run npm run build first');
  const [backendPort, nginxPort] = [await freePort(), await freePort()];
  const media = path.join(dir, 'media');
  const music = path.join(dir, 'music');
  mkdirSync(music);
  const backendLog = path.join(dir, 'backend.log');
  const dataDir = path.join(dir, 'data');
  const out = openSync(backendLog, 'a');
  const backend = spawn(fermataBinary(), ['serve'], {
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      MEDIA_DIR: media,
      MUSIC_DIR: music,
      MEDIA_DELIVERY: 'x-accel',
      MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT),
      BIND: `127.0.0.1:${backendPort}`,
      PUBLIC_URL: `http://127.0.0.1:${nginxPort}`,
      FERMATA_ADMIN_USERNAME: ADMIN.username,
      FERMATA_ADMIN_PASSWORD: ADMIN.password,
      RATE_LIMIT_AUTH_BURST: '1000',
      SUBSONIC_CREDENTIAL_KEY: SUBSONIC_KEY,
      RATE_LIMIT_API_BURST: '1000000',
      SHUTDOWN_TIMEOUT_SECS: '2',
      RUST_LOG: 'warn',
      ...(process.env.DATABASE_URL_E2E ? { DATABASE_URL: process.env.DATABASE_URL_E2E } : {}),
    },
    stdio: ['ignore', out, out],
  });
  await waitFor(`http://127.0.0.1:${backendPort}/ready`, 'fermata serve', backendLog);

  const work = path.join(dir, 'nginx');
  execFileSync(path.join(repo, 'scripts/nginx-config'), [work, String(nginxPort), media, music, dist, `server 127.0.0.1:${backendPort};`], {
    env: { ...process.env, MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT) },
  });
  const nginxBin = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => existsSync(p)) ?? 'nginx';
  const nginx = spawn(nginxBin, ['-p', work, '-c', path.join(work, 'nginx.conf')], { stdio: 'ignore' });
  await waitFor(`http://127.0.0.1:${nginxPort}/health`, 'nginx', path.join(work, 'error.log'));

  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    // Root in a container has no user namespace for the sandbox; autoplay without a gesture keeps tests honest
    // about what they click rather than about browser policy.
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
  });

  const fixtures = path.join(dir, 'fixtures');
  mkdirSync(fixtures);
  return {
    dir,
    fixtures,
    /** Runs SQL on the backend's own (embedded) database, for seeding large libraries. */
    sql(text) {
      return execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-h', path.join(dataDir, 'postgres'), '-U', 'fermata', '-d', 'fermata'], { input: text, encoding: 'utf8' });
    },
    music,
    url: `http://127.0.0.1:${nginxPort}`,
    browser,
    backendLog,
    async stop() {
      await browser.close().catch(() => {});
      nginx.kill('SIGTERM');
      const exited = new Promise((resolve) => backend.once('exit', resolve));
      backend.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A page that records console errors and uncaught exceptions (a test asserts there are none). */
export async function openPage(context, problems) {
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // The browser logs every non-2xx answer as "Failed to load resource"; the tests provoke some on purpose
    // (401 before sign-in, 409 duplicates, 422 field errors, 404 peaks before analysis).
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  return page;
}

export const artifacts = path.join(frontendDir, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
