// Listening by sound in the web player (#22): a song's page shows its tempo and key and the songs that sound like
// it; "Start radio" plays the song and a queue that extends itself as it runs out, never repeating a song; the
// songs list filters by tempo and key. Three families of songs (an instrument and a tempo each) are made by ffmpeg,
// indexed from the library folder and analysed by the real backend.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, openPage, startStack } from './harness.mjs';

const FAMILIES = [
  { name: 'Pluck', bpm: 90, expression: (hz, period) => `0.5*sin(2*PI*${hz}*t)*exp(-mod(t\\,${period})*4)` },
  { name: 'Saw', bpm: 128, expression: (hz, period) => `0.4*(2*mod(${hz}*t\\,1)-1)*lt(mod(t\\,${period})\\,${period / 2})` },
  { name: 'Drums', bpm: 174, expression: (hz, period) => `0.5*(2*random(${hz})-1)*exp(-mod(t\\,${period})*25)` },
];
const PER_FAMILY = 5;

let stack;
const problems = [];

before(async () => {
  stack = await startStack();
  for (const family of FAMILIES) {
    const dir = path.join(stack.music, family.name);
    mkdirSync(dir);
    for (let n = 0; n < PER_FAMILY; n++) {
      const hz = 196 + n * 37;
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=exprs=${family.expression(hz, 60 / family.bpm)}:s=44100:d=10`,
        '-c:a', 'flac', '-metadata', `title=${family.name} ${n + 1}`, '-metadata', `album=${family.name} Album`, '-metadata', `artist=${family.name} Band`,
        '-metadata', `track=${n + 1}`, path.join(dir, `${n + 1}.flac`)]);
    }
  }
  const login = await fetch(`${stack.url}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin: stack.url }, body: JSON.stringify(ADMIN),
  });
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  assert.equal((await fetch(`${stack.url}/api/admin/scan`, { method: 'POST', headers: { cookie, origin: stack.url } })).status, 202);
  // Scanned, then every song analysed (each family has a pulse, so every song gets a tempo).
  const total = FAMILIES.length * PER_FAMILY;
  for (let i = 0; ; i++) {
    const page = await (await fetch(`${stack.url}/api/music/songs?limit=100`, { headers: { cookie } })).json();
    if (page.items?.length === total && page.items.every((s) => s.bpm !== null)) break;
    assert.ok(i < 600, `analysis did not finish: ${JSON.stringify(page.items?.map((s) => [s.title, s.bpm]))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  await stack?.stop();
});

const queueLength = (page) => page.locator('[data-queue-list] li').count();

describe('listening by sound', () => {
  let page;

  it('shows a song’s tempo and key and the songs that sound like it', async () => {
    const context = await stack.browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 800 } });
    page = await openPage(context, problems);
    await page.goto('/login');
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Songs' }).waitFor();

    // From the song's menu to its page.
    await page.getByRole('button', { name: 'More for Saw 1', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Similar songs' }).click();
    await page.getByRole('heading', { name: 'Saw 1' }).waitFor();
    assert.match(await page.locator('[data-song-bpm]').textContent(), /^12[789] BPM$/);
    // The similar list: every song but this one, its own family's first.
    const list = page.getByRole('list', { name: 'Songs like Saw 1' });
    await list.getByRole('listitem').first().waitFor();
    const titles = await list.locator('.title').allTextContents();
    assert.ok(!titles.includes('Saw 1'), titles.join(', '));
    assert.deepEqual(titles.slice(0, PER_FAMILY - 1).map((t) => t.replace(/ \d+$/, '')), Array(PER_FAMILY - 1).fill('Saw'), titles.join(', '));
  });

  it('starts a radio whose queue extends itself and never repeats', async () => {
    await page.locator('[data-start-radio]').click();
    await page.locator('[data-radio]').filter({ hasText: 'Radio: Saw 1' }).waitFor();
    // One line, on a desktop and on a phone (it wrapped onto three once).
    for (const viewport of [{ width: 390, height: 844 }, page.viewportSize()]) {
      await page.setViewportSize(viewport);
      const chip = await page.locator('[data-radio]').boundingBox();
      assert.ok(chip && chip.height < 40 && chip.x + chip.width <= viewport.width,
        `the radio chip is one line inside the screen at ${viewport.width} px: ${JSON.stringify(chip)}`);
    }
    await page.waitForFunction(() => document.querySelector('[data-player-title]')?.textContent === 'Saw 1');
    await page.locator('[data-queue-open]').click();
    // The seed and the first ten.
    await page.waitForFunction(() => document.querySelectorAll('[data-queue-list] li').length === 11);
    // Skipping ahead: with fewer than three songs left after the current one, the radio asks for more.
    for (let i = 0; i < 9; i++) await page.locator('[data-next]').click();
    await page.waitForFunction((total) => document.querySelectorAll('[data-queue-list] li').length === total, FAMILIES.length * PER_FAMILY, { timeout: 15000 });
    const queued = await page.locator('[data-queue-list] .queue-title').allTextContents();
    assert.equal(new Set(queued).size, queued.length, `no song twice: ${queued.join(', ')}`);
    assert.equal(await queueLength(page), FAMILIES.length * PER_FAMILY);
    // Stopping the radio from the chip.
    await page.locator('[data-radio]').click();
    await page.locator('[data-radio]').waitFor({ state: 'hidden' });
  });

  it('filters the songs list by tempo and key', async () => {
    await page.goto('/?bpm_min=160&bpm_max=190');
    await page.getByRole('list', { name: 'Songs' }).getByRole('listitem').first().waitFor();
    const titles = await page.getByRole('list', { name: 'Songs' }).locator('.title').allTextContents();
    assert.equal(titles.length, PER_FAMILY, titles.join(', '));
    assert.ok(titles.every((t) => t.startsWith('Drums')), titles.join(', '));
    assert.equal(await page.locator('[data-bpm-min]').inputValue(), '160');
    assert.deepEqual(problems, []);
  });
});
