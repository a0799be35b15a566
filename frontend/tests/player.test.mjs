// The web player end to end, in Debian's Chromium, through real nginx, a real backend and database.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, artifacts, makeAudio, openPage, startStack, UPLOAD_LIMIT } from './harness.mjs';

let stack;
const problems = [];
let listener; // { context, page }
let admin;

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: false });
const playerTitle = (page) => page.locator('[data-player-title]').textContent();
// Where playback is, from the player bar's data-* hooks: a song plays from an audio element or, once decoded for
// gapless playback, from Web Audio, so the audio elements alone do not say.
const position = (page) => page.evaluate(() => Number(document.querySelector('[data-player]')?.dataset.position ?? 0));
/** Waits until the player plays past `seconds` (and below `below`, when given). */
const playingPast = (page, seconds, { timeout = 15000, below = Infinity } = {}) =>
  page.waitForFunction(([s, b]) => {
    const bar = document.querySelector('[data-player]');
    const t = Number(bar?.dataset.position);
    return bar?.dataset.state === 'playing' && t > s && t < b;
  }, [seconds, below], { timeout });
/** Waits until the position (playing or not) is past `seconds`. */
const positionPast = (page, seconds, timeout = 20000) =>
  page.waitForFunction((s) => Number(document.querySelector('[data-player]')?.dataset.position) >= s, seconds, { timeout });

before(async () => {
  stack = await startStack();
  const songs = [
    ['allegro', { title: 'Allegro con brio', artist: 'Beethoven', album: 'Symphony No. 5', hz: 330, ext: 'mp3', track: 1 }],
    ['largo', { title: 'Largo', artist: 'Antonín Dvořák', album: 'New World', hz: 392, ext: 'flac', track: 2 }],
    ['aria', { title: 'Aria', artist: 'Bach', album: 'Goldberg Variations', hz: 523, ext: 'ogg', track: 1 }],
  ];
  stack.files = songs.map(([name, tags]) => makeAudio(stack.fixtures, name, tags));
  stack.bogus = path.join(stack.fixtures, 'notes.mp3');
  writeFileSync(stack.bogus, 'these are not audio bytes, whatever the name says\n'.repeat(50));
});

after(async () => {
  await stack?.stop();
});

describe('the web player', () => {
  it('registers a listener, showing field errors beside the fields first', async () => {
    const context = await stack.browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 800 } });
    const page = await openPage(context, problems);
    // A signed-out visitor's first load asks who is signed in without a failed request in the console.
    const failed = [];
    page.on('console', (message) => message.type() === 'error' && failed.push(message.text()));
    await page.goto('/playlists');
    await page.waitForURL(/\/login\?next=%2Fplaylists/);
    await page.getByRole('heading', { name: 'Sign in to Fermata' }).waitFor();
    assert.deepEqual(failed, [], 'no failed request on a cold load');
    await shot(page, 'sign-in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill('x');
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByLabel('Password (at least 8 characters)').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('[data-field-error="username"]').filter({ hasText: /./ }).waitFor();
    assert.match(await page.locator('[data-field-error="password"]').textContent(), /8/);
    assert.notEqual(await page.locator('[data-field-error="email"]').textContent(), '');
    await shot(page, 'register-errors');
    await page.getByLabel('Username').fill('clara');
    await page.getByLabel('Email').fill('clara@example.com');
    await page.getByLabel('Password (at least 8 characters)').fill('clara-listens-a-lot');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Songs' }).waitFor();
    assert.equal(await page.locator('[data-who]').textContent(), 'clara');
    // The library is still empty: said in the middle of the page; a listener has no upload to offer.
    await page.locator('[data-empty-library]').getByRole('heading', { name: 'The library is empty' }).waitFor();
    assert.equal(await page.locator('[data-empty-upload]').count(), 0);
    listener = { context, page };
  });

  it('lets an admin upload many files at once and shows each outcome', async () => {
    const context = await stack.browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 800 } });
    const page = await openPage(context, problems);
    await page.goto('/login');
    await page.getByLabel('Username or email').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // An admin's empty library offers the two ways in, as actions in the middle of the page.
    const empty = page.locator('[data-empty-library]');
    await empty.waitFor();
    assert.equal(await empty.getByRole('link', { name: 'Scan the library folder' }).isVisible(), true);
    await shot(page, 'empty-library');
    await empty.getByRole('link', { name: 'Upload songs' }).click();
    await page.waitForURL(/\/admin\/upload$/);
    await page.locator('[data-upload-input]').setInputFiles([...stack.files, stack.bogus]);
    const rows = page.locator('[data-upload-file]');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-upload-file]')].every((li) => li.dataset.outcome), null, { timeout: 30000 });
    assert.equal(await rows.count(), 4);
    for (const file of stack.files) {
      const row = page.locator(`[data-upload-file="${path.basename(file)}"]`);
      assert.equal(await row.getAttribute('data-outcome'), 'added');
      assert.equal(await row.locator('progress').evaluate((p) => p.value), 1);
    }
    const bogus = page.locator('[data-upload-file="notes.mp3"]');
    assert.equal(await bogus.getAttribute('data-outcome'), 'refused');
    assert.match(await bogus.locator('[data-upload-outcome]').textContent(), /Refused/);
    // The same file again is a duplicate, named as such.
    await page.locator('[data-upload-input]').setInputFiles([stack.files[0]]);
    await page.locator('[data-upload-file="allegro.mp3"][data-outcome="duplicate"]').waitFor();
    // Over MAX_UPLOAD_BYTES: nginx refuses it before the backend, and the page says why with the limit.
    const tooBig = path.join(stack.fixtures, 'too-big.flac');
    writeFileSync(tooBig, Buffer.alloc(UPLOAD_LIMIT + 1024 * 1024));
    await page.locator('[data-upload-input]').setInputFiles([tooBig]);
    const refused = page.locator('[data-upload-file="too-big.flac"][data-outcome="refused"]');
    await refused.waitFor({ timeout: 15000 });
    assert.equal(await refused.locator('[data-upload-outcome]').textContent(),
      `Refused (too large): an upload may carry at most ${UPLOAD_LIMIT} bytes (MAX_UPLOAD_BYTES); send large files one at a time`);
    await shot(page, 'admin-upload');
    admin = { context, page };
  });

  it('shows the new songs, and finds Dvořák with an accent-less query', async () => {
    const { page } = listener;
    await page.goto('/');
    await page.locator('[data-song-id]').first().waitFor();
    assert.equal(await page.locator('.song-row').count(), 3);
    await page.locator('[data-search]').fill('dvorak');
    await page.waitForURL(/q=dvorak/);
    await page.getByRole('heading', { name: 'Songs matching “dvorak”' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    assert.equal(await page.locator('.song-row .title').textContent(), 'Largo');
    await shot(page, 'search');
    await page.locator('[data-search]').fill('');
    await page.waitForURL((url) => !url.search.includes('q='));
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 3);
    await shot(page, 'songs');
  });

  it('searching from another page types on uninterrupted and leaves one place selected in the side bar', async () => {
    const { page } = listener;
    await page.getByRole('navigation', { name: 'Library' }).getByRole('link', { name: 'Albums' }).click();
    await page.waitForURL(/\/albums$/);
    await page.locator('[data-search]').click();
    // Typed key by key, slower than the search's debounce: the page changes under the typing.
    await page.keyboard.type('dvorak', { delay: 300 });
    await page.waitForURL(/q=dvorak$/);
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    assert.equal(await page.locator('[data-search]').inputValue(), 'dvorak', 'no keystroke lost');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.search), '', 'the search box keeps focus');
    const selected = await page.locator('[data-nav] a').evaluateAll((links) => links
      .filter((a) => a.getAttribute('aria-current') === 'page' || a.matches(':focus, :focus-visible, :hover')
        || getComputedStyle(a).backgroundColor !== 'rgba(0, 0, 0, 0)')
      .map((a) => a.textContent));
    assert.deepEqual(selected, ['Songs']);
    // Leaving the results for another page empties the box (it kept the text once); coming back fills it again.
    await page.getByRole('navigation', { name: 'Library' }).getByRole('link', { name: 'Albums' }).click();
    await page.waitForURL(/\/albums$/);
    assert.equal(await page.locator('[data-search]').inputValue(), '', 'no stale search text on another page');
    await page.goBack();
    await page.waitForURL(/q=dvorak$/);
    await page.waitForFunction(() => document.querySelector('[data-search]').value === 'dvorak');
    await page.locator('[data-search]').fill('');
    await page.waitForURL((url) => !url.search.includes('q='));
  });

  it('plays a song: time advances and nginx answered the stream with 206', async () => {
    const { page } = listener;
    const statuses = [];
    page.on('response', (r) => r.url().includes('/stream') && statuses.push(r.status()));
    await page.getByRole('button', { name: 'Play Allegro con brio' }).click();
    await page.locator('[data-player]').waitFor({ state: 'visible' });
    assert.equal(await playerTitle(page), 'Allegro con brio');
    await playingPast(page, 1);
    assert.ok(statuses.includes(206), `stream statuses: ${statuses}`);
    assert.equal(await page.locator('[data-play-pause]').getAttribute('aria-label'), 'Pause');
    assert.equal(await page.locator('[data-announce]').textContent(), 'Now playing: Allegro con brio by Beethoven');
    await shot(page, 'playing');
  });

  it('seeks, goes to the next song, shuffles and repeats', async () => {
    const { page } = listener;
    const time = () => position(page);
    // Seek with the seek bar to 60 %.
    await page.locator('[data-seek]').evaluate((input) => {
      input.value = 600;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await playingPast(page, 11.5);
    // Keyboard: the right arrow seeks 5 s further.
    const before5 = await time();
    await page.locator('body').press('ArrowRight');
    await playingPast(page, before5 + 4);

    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-player-title]').textContent !== 'Allegro con brio');
    const second = await playerTitle(page);
    await playingPast(page, 0.5);

    // Shuffle keeps the current song first and every song in the queue.
    await page.locator('[data-shuffle]').click();
    assert.equal(await page.locator('[data-shuffle]').getAttribute('aria-pressed'), 'true');
    await page.locator('[data-queue-open]').click();
    const queued = await page.locator('[data-queue-list] .title').allTextContents();
    assert.equal(queued.length, 3);
    assert.equal(queued[0], second);
    assert.deepEqual([...queued].sort(), ['Allegro con brio', 'Aria', 'Largo']);
    await shot(page, 'queue');
    await page.getByRole('button', { name: 'Close queue' }).click();
    await page.locator('[data-shuffle]').click();
    assert.equal(await page.locator('[data-shuffle]').getAttribute('aria-pressed'), 'false');

    // Repeat: off → all → one; with "one" the song starts again at its end.
    await page.locator('[data-repeat]').click();
    assert.equal(await page.locator('[data-repeat]').getAttribute('aria-label'), 'Repeat: all');
    await page.locator('[data-repeat]').click();
    assert.equal(await page.locator('[data-repeat]').getAttribute('aria-label'), 'Repeat: one');
    const current = await playerTitle(page);
    await page.locator('[data-seek]').evaluate((input) => {
      input.value = 960;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await playingPast(page, 0.2, { below: 3 });
    assert.equal(await playerTitle(page), current);
    await page.locator('[data-repeat]').click();
    assert.equal(await page.locator('[data-repeat]').getAttribute('aria-label'), 'Repeat: off');
  });

  it('adds songs to a new playlist and reorders them by dragging', async () => {
    const { page } = listener;
    page.on('dialog', (dialog) => dialog.accept(dialog.type() === 'prompt' ? 'Road trip' : undefined));
    await page.goto('/');
    await page.getByRole('button', { name: 'More for Aria' }).click();
    await page.getByRole('menuitem', { name: 'Add to playlist…' }).click();
    await page.getByRole('menuitem', { name: 'New playlist…' }).click();
    await page.locator('.toast').filter({ hasText: 'Road trip' }).waitFor();
    // A selection of two more songs in one go.
    await page.getByRole('checkbox', { name: 'Select Largo' }).check();
    await page.getByRole('checkbox', { name: 'Select Allegro con brio' }).check();
    await page.locator('[data-selection-playlist]').click();
    await page.getByRole('menuitem', { name: 'Road trip' }).click();
    await page.locator('.toast').filter({ hasText: 'Added 2 songs to Road trip' }).waitFor();

    await page.getByRole('link', { name: 'Playlists' }).click();
    await page.getByRole('link', { name: 'Road trip' }).click();
    const titles = () => page.locator('[data-entries] .title').allTextContents();
    await page.locator('[data-entries] [data-entry-id]').nth(2).waitFor();
    const start = await titles();
    assert.equal(start[0], 'Aria');
    // Drag the first entry onto the last.
    await page.locator('[data-entries] [data-entry-id]').nth(0).dragTo(page.locator('[data-entries] [data-entry-id]').nth(2));
    await page.waitForFunction((first) => document.querySelector('[data-entries] .title').textContent !== first, start[0]);
    const moved = await titles();
    assert.equal(moved[2], 'Aria');
    // And with the keyboard-reachable buttons.
    await page.getByRole('button', { name: `Move ${moved[1]} up` }).click();
    await page.waitForFunction((t) => document.querySelector('[data-entries] .title').textContent === t, moved[1]);
    // The order is the server's, not just the page's.
    await page.reload();
    await page.locator('[data-entries] [data-entry-id]').nth(2).waitFor();
    assert.deepEqual(await titles(), [moved[1], moved[0], 'Aria']);
    await shot(page, 'playlist');
  });

  it('keeps the queue and position across a reload', async () => {
    const { page } = listener;
    await page.getByRole('button', { name: 'Play', exact: true }).first().click();
    await playingPast(page, 0.2);
    await page.locator('[data-seek]').evaluate((input) => {
      input.value = 500;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await positionPast(page, 9.5);
    const title = await playerTitle(page);
    await page.locator('[data-queue-open]').click();
    const queue = await page.locator('[data-queue-list] .title').allTextContents();
    await page.getByRole('button', { name: 'Close queue' }).click();
    await page.waitForTimeout(300); // the save after a change is debounced by 200 ms
    await page.reload();
    await page.locator('[data-player]').waitFor({ state: 'visible' });
    assert.equal(await playerTitle(page), title);
    await positionPast(page, 9);
    await page.locator('[data-queue-open]').click();
    assert.deepEqual(await page.locator('[data-queue-list] .title').allTextContents(), queue);
    await page.getByRole('button', { name: 'Close queue' }).click();
  });

  it('stays bounded after 100 track changes (JS heap and DOM nodes)', async () => {
    const { page } = listener;
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const measure = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const get = (name) => metrics.find((m) => m.name === name).value;
      return { heap: get('JSHeapUsedSize'), nodes: get('Nodes') };
    };
    await page.locator('[data-repeat]').click(); // repeat all: next wraps around
    const change = async (n) => {
      for (let i = 0; i < n; i++) {
        const before = await playerTitle(page);
        await page.locator('[data-next]').click();
        await page.waitForFunction((t) => document.querySelector('[data-player-title]').textContent !== t, before);
      }
    };
    await change(10);
    const warm = await measure();
    await change(100);
    const end = await measure();
    console.log(`after 10 changes: heap ${(warm.heap / 1048576).toFixed(1)} MiB, ${warm.nodes} nodes; after 110: heap ${(end.heap / 1048576).toFixed(1)} MiB, ${end.nodes} nodes`);
    assert.ok(end.heap < warm.heap * 1.5 + 2 * 1048576, `heap grew from ${warm.heap} to ${end.heap}`);
    assert.ok(end.nodes < warm.nodes * 1.2 + 200, `DOM nodes grew from ${warm.nodes} to ${end.nodes}`);
    // Decoded audio for gapless playback stays at two songs at most (these are 20 s stereo, ≤ 48 kHz).
    await page.waitForTimeout(1500); // decoding ahead settles
    const decoded = await page.evaluate(() => Number(document.querySelector('[data-player]').dataset.decodedBytes));
    console.log(`decoded audio held after 110 changes: ${(decoded / 1048576).toFixed(1)} MiB`);
    assert.ok(decoded > 0, 'songs are decoded ahead');
    assert.ok(decoded <= 2 * 20 * 48000 * 2 * 4, `decoded audio held: ${decoded} bytes`);
  });

  it('has every main page reachable, with screenshots, at 360 px wide too', async () => {
    const { page } = listener;
    for (const [route, heading] of [['/albums', 'Albums'], ['/artists', 'Artists'], ['/genres', 'Genres'], ['/charts', 'Charts'], ['/history', 'History'], ['/favourites', 'Favourites']]) {
      await page.goto(route);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await shot(page, route.slice(1));
    }
    // Hovering another navigation item does not make it look current (it took the current page's colour once).
    const current = page.locator(".sidebar a[aria-current='page']");
    const other = page.locator(".sidebar a:not([aria-current='page'])").first();
    await other.hover();
    const colours = async (locator) => locator.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).boxShadow]);
    const [hoverColour, hoverBar] = await colours(other);
    const [currentColour, currentBar] = await colours(current);
    assert.notEqual(hoverColour, currentColour, 'a hovered item is not coloured as the current page');
    assert.notEqual(hoverBar, currentBar, 'only the current page has the bar');
    await page.goto('/albums');
    await page.locator('.album-card').first().click();
    await page.locator('[data-play-all]').waitFor();
    await shot(page, 'album');
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto('/');
    await page.locator('.song-row').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling at 360 px (${overflow}px too wide)`);
    await shot(page, 'songs-360');
    // A phone (390×844): every control of the player bar is inside the screen and big enough for a finger
    // (the seek bar and times were below the bottom once, and the LN button hidden).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('[data-player]').waitFor();
    const controls = ['[data-play-pause]', '[data-previous]', '[data-next]', '[data-shuffle]', '[data-repeat]', '[data-seek]',
      '[data-elapsed]', '[data-remaining]', '[data-mute]', '[data-normalise]', '[data-queue-open]', '[data-now-playing-open]'];
    for (const selector of controls) {
      const box = await page.locator(`.player ${selector}`).boundingBox();
      assert.ok(box, `${selector} is shown on a phone`);
      assert.ok(box.y >= 0 && box.y + box.height <= 844 && box.x >= 0 && box.x + box.width <= 390,
        `${selector} is inside the screen: ${JSON.stringify(box)}`);
      if (!['[data-elapsed]', '[data-remaining]'].includes(selector)) {
        assert.ok(box.width >= 24 && box.height >= 24, `${selector} can be touched: ${JSON.stringify(box)}`);
      }
    }
    await shot(page, 'player-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('edits tags in place with autosave, and says so when someone else changed the song', async () => {
    const { page } = admin;
    await page.goto('/');
    await page.getByRole('button', { name: 'More for Aria' }).click();
    await page.getByRole('menuitem', { name: 'Edit tags' }).click();
    await page.getByLabel('Genre').fill('Baroque');
    await page.locator('[data-save-state="saved"]').waitFor();
    const id = page.url().split('/').pop();
    const song = await page.evaluate((songId) => fetch(`/api/music/songs/${songId}`).then((r) => r.json()), id);
    assert.equal(song.genre, 'Baroque');
    // Another admin edits meanwhile: the next autosave is a visible conflict, not a silent overwrite.
    await page.evaluate(({ songId, version }) => fetch(`/api/music/songs/${songId}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ version, year: 1741 }) }), { songId: id, version: song.version });
    await page.getByLabel('Title').fill('Aria (da capo)');
    await page.locator('[data-save-state="conflict"]').waitFor();
    await shot(page, 'edit-conflict');
  });

  it('reports a play once per playback, after half of a 20 s song', async () => {
    const { page } = listener;
    await page.goto('/?q=largo');
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    const id = await page.locator('.song-row').getAttribute('data-song-id');
    const plays = () => page.evaluate((songId) => fetch(`/api/music/songs/${songId}`).then((r) => r.json()).then((s) => s.play_count), id);
    const before = await plays();
    await page.getByRole('button', { name: 'Play Largo' }).click();
    await playingPast(page, 6, { timeout: 20000 });
    assert.equal(await plays(), before, 'not counted before half the song');
    await playingPast(page, 12, { timeout: 20000 });
    await page.waitForFunction(async (songId) => (await (await fetch(`/api/me/history`)).json()).items.some((e) => e.song.id === songId), id);
    assert.equal(await plays(), before + 1);
    await positionPast(page, 16);
    assert.equal(await plays(), before + 1, 'one play per playback');
    // The Media Session names the song for the lock screen and media keys.
    assert.equal(await page.evaluate(() => navigator.mediaSession.metadata?.title), 'Largo');
  });

  it('browses by what the listener did and by tags: favourites, history, charts, genres, artists, sorting', async () => {
    const { page } = listener;
    const titles = () => page.evaluate(() => [...document.querySelectorAll('.song-row')]
      .sort((a, b) => a.dataset.index - b.dataset.index).map((row) => row.querySelector('.title').textContent));
    await page.goto('/');
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 3);
    // Sorting by title, then the other way round.
    assert.deepEqual(await titles(), ['Allegro con brio', 'Aria', 'Largo']);
    await page.locator('[data-order]').click();
    await page.waitForURL(/order=desc/);
    await page.waitForFunction(() => document.querySelector('.song-row[data-index="0"] .title')?.textContent === 'Largo');
    assert.deepEqual(await titles(), ['Largo', 'Aria', 'Allegro con brio']);
    // By album, still descending: Symphony No. 5, New World, Goldberg Variations.
    await page.locator('[data-sort]').selectOption('album');
    await page.waitForURL(/sort=album/);
    await page.waitForFunction(() => document.querySelector('.song-row[data-index="2"] .title')?.textContent === 'Aria');
    assert.deepEqual(await titles(), ['Allegro con brio', 'Largo', 'Aria']);
    await page.goto('/');
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 3);

    // A star shows up in Favourites, and goes away again.
    const star = page.getByRole('button', { name: 'Favourite Allegro con brio' });
    await star.click();
    await page.waitForFunction(() => document.querySelector('[aria-label="Favourite Allegro con brio"]').getAttribute('aria-pressed') === 'true');
    await page.goto('/favourites');
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    assert.deepEqual(await titles(), ['Allegro con brio']);
    await page.getByRole('button', { name: 'Favourite Allegro con brio' }).click();
    await page.waitForFunction(() => document.querySelector('[aria-label="Favourite Allegro con brio"]').getAttribute('aria-pressed') === 'false');
    await page.reload();
    await page.locator('.songlist-status').filter({ hasText: 'Star a song to find it here.' }).waitFor();

    // History: the song played to its half in the previous test comes first; Charts count its plays.
    await page.goto('/history');
    await page.locator('.song-row').first().waitFor();
    assert.equal((await titles())[0], 'Largo');
    await page.goto('/charts?period=week');
    const largo = page.locator('.song-row').filter({ hasText: 'Largo' });
    await largo.waitFor();
    const id = await largo.getAttribute('data-song-id');
    const plays = await page.evaluate((songId) => fetch(`/api/music/songs/${songId}`).then((r) => r.json()).then((s) => s.play_count), id);
    assert.ok(plays >= 1);
    assert.equal(await largo.locator('.extra').textContent(), `${plays} plays`);

    // Genres: the genre an admin typed in the tag editor lists its song; removing the filter lists them all.
    await page.goto('/genres');
    const baroque = page.locator('.artist-card').filter({ hasText: 'Baroque' });
    assert.match(await baroque.textContent(), /1 songs/);
    await baroque.click();
    await page.waitForURL(/genre=Baroque/);
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    assert.deepEqual(await titles(), ['Aria']);
    await page.getByRole('button', { name: 'Remove filter genre' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 3);

    // Artists → an artist's albums → the album's tracks.
    await page.goto('/artists');
    await page.locator('.artist-card').filter({ hasText: 'Antonín Dvořák' }).click();
    await page.getByRole('heading', { name: 'Antonín Dvořák' }).waitFor();
    await page.locator('.album-card').filter({ hasText: 'New World' }).click();
    await page.getByRole('heading', { name: 'New World' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length === 1);
    assert.deepEqual(await titles(), ['Largo']);
  });

  it('lists the keyboard shortcuts and obeys them', async () => {
    const { page } = listener;
    await page.locator('body').press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    assert.match(await help.textContent(), /Play or pause/);
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });
    const label = () => page.locator('[data-mute]').getAttribute('aria-pressed');
    await page.locator('body').press('m');
    assert.equal(await label(), 'true');
    await page.locator('body').press('m');
    assert.equal(await label(), 'false');
    await page.locator('body').press('/');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.search), '');
    await page.locator('[data-search]').press('Escape');
  });

  it('names every control and shows where keyboard focus is', async () => {
    const unnamed = (page) => page.evaluate(() => {
      const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
      const name = (el) => (el.getAttribute('aria-label')
        || (el.getAttribute('aria-labelledby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join('')
        || [...(el.labels ?? [])].map((l) => l.textContent).join('')
        || el.textContent || el.getAttribute('title') || el.querySelector('img[alt]')?.alt || el.getAttribute('placeholder') || '').trim();
      return [...document.querySelectorAll('button, a[href], input, select, textarea, [role="slider"], [tabindex]:not([tabindex="-1"])')]
        .filter((el) => visible(el) && el.type !== 'hidden' && !name(el)).map((el) => el.outerHTML.slice(0, 120));
    });
    const { page } = listener;
    for (const route of ['/', '/albums', '/artists', '/playlists', '/charts', '/history']) {
      await page.goto(route);
      await page.locator('.main h1').first().waitFor();
      // The event stream never lets the network go idle: give the first page of items a moment instead.
      await page.waitForFunction(() => !document.querySelector('.main').textContent.includes('Loading…'));
      await page.waitForTimeout(300);
      assert.deepEqual(await unnamed(page), [], `controls without a name on ${route}`);
    }
    for (const route of ['/admin/upload', '/admin/scan', '/admin/users']) {
      await admin.page.goto(route);
      await admin.page.locator('.main h1').first().waitFor();
      await admin.page.waitForFunction(() => !document.querySelector('.main').textContent.includes('Loading…'));
      await admin.page.waitForTimeout(300);
      assert.deepEqual(await unnamed(admin.page), [], `controls without a name on ${route}`);
    }

    // Keyboard only: a page change puts focus on the page's content, so the next Tab lands in it.
    await page.goto('/');
    await page.locator('.song-row').first().waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.querySelector('[data-main]').contains(document.activeElement)), true);
    // From the top ("skip to content" shows itself when focused) every stop is visibly marked.
    await page.locator('.skip').focus();
    const skip = await page.locator('.skip').boundingBox();
    assert.ok(skip.x >= 0 && skip.y >= 0, `the skip link is on screen when focused: ${JSON.stringify(skip)}`);
    for (let i = 0; i < 40; i += 1) {
      const focus = await page.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return { what: el.outerHTML.slice(0, 80), outline: style.outlineStyle, width: box.width, height: box.height };
      });
      assert.notEqual(focus.outline, 'none', `no visible focus on ${focus.what}`);
      assert.ok(focus.width > 0 && focus.height > 0, `focus on something invisible: ${focus.what}`);
      await page.keyboard.press('Tab');
    }
  });

  it('answers the lock screen and media keys through the Media Session', async () => {
    const context = await stack.browser.newContext({ baseURL: stack.url, storageState: await listener.context.storageState() });
    // The browser calls these handlers for the lock screen, a media notification and hardware media keys; the
    // test keeps them so it can call them the same way.
    await context.addInitScript(() => {
      window.mediaHandlers = {};
      const set = navigator.mediaSession.setActionHandler.bind(navigator.mediaSession);
      navigator.mediaSession.setActionHandler = (action, handler) => {
        window.mediaHandlers[action] = handler;
        set(action, handler);
      };
    });
    const page = await openPage(context, problems);
    await page.goto('/');
    await page.getByRole('button', { name: 'Play Allegro con brio' }).click();
    await page.waitForFunction(() => navigator.mediaSession.playbackState === 'playing');
    await playingPast(page, 0.2);
    const session = () => page.evaluate(() => {
      const m = navigator.mediaSession.metadata;
      return { title: m?.title, artist: m?.artist, album: m?.album, state: navigator.mediaSession.playbackState };
    });
    assert.deepEqual(await session(), { title: 'Allegro con brio', artist: 'Beethoven', album: 'Symphony No. 5', state: 'playing' });
    assert.deepEqual(await page.evaluate(() => Object.keys(window.mediaHandlers).sort()),
      ['nexttrack', 'pause', 'play', 'previoustrack', 'seekbackward', 'seekforward', 'seekto']);

    await page.evaluate(() => window.mediaHandlers.pause({ action: 'pause' }));
    await page.waitForFunction(() => navigator.mediaSession.playbackState === 'paused');
    assert.equal(await page.locator('[data-play-pause]').getAttribute('aria-label'), 'Play');
    await page.evaluate(() => window.mediaHandlers.seekto({ action: 'seekto', seekTime: 8 }));
    await page.waitForFunction(() => Math.abs(Number(document.querySelector('[data-player]').dataset.position) - 8) < 0.5);
    await page.evaluate(() => window.mediaHandlers.play({ action: 'play' }));
    await page.waitForFunction(() => navigator.mediaSession.playbackState === 'playing');
    assert.equal(await page.locator('[data-play-pause]').getAttribute('aria-label'), 'Pause');

    await page.evaluate(() => window.mediaHandlers.nexttrack({ action: 'nexttrack' }));
    await page.waitForFunction(() => document.querySelector('[data-player-title]').textContent !== 'Allegro con brio');
    const next = await playerTitle(page);
    await page.waitForFunction((title) => navigator.mediaSession.metadata?.title === title, next);
    // Early in a song, "previous" goes back a song.
    await page.evaluate(() => window.mediaHandlers.previoustrack({ action: 'previoustrack' }));
    await page.waitForFunction(() => navigator.mediaSession.metadata?.title === 'Allegro con brio');
    assert.equal(await playerTitle(page), 'Allegro con brio');
    await context.close();
  });

  it('shows a retry instead of a blank page when the network is lost', async () => {
    const { page, context } = listener;
    await page.goto('/');
    await page.locator('.song-row').first().waitFor();
    await context.setOffline(true);
    await page.getByRole('link', { name: 'Albums' }).click();
    await page.locator('[data-banner]').filter({ hasText: 'connection to Fermata was lost' }).waitFor();
    await page.locator('.main .error-box').getByRole('button', { name: 'Retry' }).waitFor();
    await shot(page, 'offline');
    await context.setOffline(false);
    await page.locator('.main .error-box').getByRole('button', { name: 'Retry' }).click();
    await page.locator('.album-card').first().waitFor();
    assert.equal(await page.locator('[data-banner]').isHidden(), true);
  });

  it('keeps panels calm under prefers-reduced-motion', async () => {
    const context = await stack.browser.newContext({ baseURL: stack.url, reducedMotion: 'reduce', storageState: await listener.context.storageState() });
    const page = await openPage(context, problems);
    await page.goto('/');
    await page.locator('[data-player]').waitFor({ state: 'visible' });
    await page.locator('[data-now-playing-open]').click();
    // No tween: the panel is fully there on the very next frame.
    const style = await page.locator('[data-now-playing]').evaluate((el) => new Promise((resolve) => requestAnimationFrame(() => resolve({ opacity: getComputedStyle(el).opacity, transform: getComputedStyle(el).transform }))));
    assert.deepEqual(style, { opacity: '1', transform: 'none' });
    await shot(page, 'now-playing');
    await context.close();
  });

  it('scans the library folder with live progress, and manages users', async () => {
    const { page } = admin;
    makeAudio(stack.music, 'scanned-one', { title: 'Scanned One', artist: 'Folder Artist', album: 'Folder Album', seconds: 2, hz: 610 });
    makeAudio(stack.music, 'scanned-two', { title: 'Scanned Two', artist: 'Folder Artist', album: 'Folder Album', seconds: 2, hz: 620, track: 2 });
    await page.goto('/admin/scan');
    await page.locator('[data-scan-start]').click();
    const status = page.locator('[data-scan-status]');
    await status.filter({ hasText: 'Scan finished: 2 files, 2 added' }).waitFor({ timeout: 30000 });
    assert.equal(await page.locator('[data-scan-progress]').evaluate((p) => p.value), 100);
    await shot(page, 'admin-scan');

    // Without the event stream (a proxy dropping it, or a scan ending before it connects) the outcome still shows.
    makeAudio(stack.music, 'scanned-three', { title: 'Scanned Three', artist: 'Folder Artist', album: 'Folder Album', seconds: 2, hz: 630, track: 3 });
    await page.route('**/api/events', (route) => route.abort());
    await page.goto('/admin/scan');
    await page.locator('[data-scan-start]').click();
    await status.filter({ hasText: 'Scan finished: 3 files, 1 added' }).waitFor({ timeout: 30000 });
    await page.unroute('**/api/events');

    await page.getByRole('link', { name: 'Users' }).click();
    await page.locator('[data-user-role="clara"]').waitFor();
    await page.locator('[data-user-role="clara"]').selectOption('admin');
    await page.locator('tr', { hasText: 'clara' }).getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const users = await page.evaluate(() => fetch('/api/admin/users').then((r) => r.json()));
    assert.equal(users.items.find((u) => u.username === 'clara').role, 'admin');
    await page.locator('[data-user-role="clara"]').selectOption('user');
    // The last admin cannot demote themselves: the refusal is shown and the choice put back.
    await page.locator('[data-user-role="admin"]').selectOption('user');
    await page.locator('tr').filter({ has: page.locator('[data-user-role="admin"]') }).getByRole('status').filter({ hasText: /admin/ }).waitFor();
    assert.equal(await page.locator('[data-user-role="admin"]').inputValue(), 'admin');
    await shot(page, 'admin-users');
  });

  it('exports a playlist as M3U8 and imports it back', async () => {
    const { page } = listener;
    await page.goto('/playlists');
    await page.getByRole('link', { name: 'Road trip' }).click();
    const download = page.waitForEvent('download');
    await page.locator('[data-playlist-export]').click();
    const file = await (await download).path();
    const text = (await import('node:fs')).readFileSync(file, 'utf8');
    assert.match(text, /^#EXTM3U/);
    assert.match(text, /Aria/);
    await page.goto('/playlists');
    const copy = path.join(stack.fixtures, 'Road trip copy.m3u8');
    writeFileSync(copy, text);
    await page.locator('[data-import-file]').setInputFiles(copy);
    await page.waitForURL(/\/playlists\/[0-9a-f-]{36}$/);
    await page.locator('[data-entries] [data-entry-id]').nth(2).waitFor();
    assert.equal(await page.locator('[data-playlist-name]').inputValue(), 'Road trip copy');
    assert.equal(await page.locator('[data-entries] [data-entry-id]').count(), 3);
  });

  it('toggles loudness normalisation and remembers it', async () => {
    const { page } = listener;
    const button = page.locator('[data-normalise]');
    assert.equal(await button.getAttribute('aria-pressed'), 'true');
    await button.click();
    assert.equal(await button.getAttribute('aria-pressed'), 'false');
    await page.waitForTimeout(300);
    await page.reload();
    await page.locator('[data-player]').waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-normalise]').getAttribute('aria-pressed'), 'false');
    await page.locator('[data-normalise]').click();
    // By album (the default) or by track, chosen in Settings and kept across a reload.
    await page.goto('/settings');
    const mode = page.getByLabel('Loudness', { exact: true });
    assert.equal(await mode.inputValue(), 'album');
    await mode.selectOption('track');
    await page.getByText('Loudness: by track, every song alike').waitFor();
    await page.waitForTimeout(300);
    await page.reload();
    assert.equal(await page.getByLabel('Loudness', { exact: true }).inputValue(), 'track');
    await page.getByLabel('Loudness', { exact: true }).selectOption('album');
    // Gapless (on by default) and crossfade (off by default), kept the same way.
    assert.equal(await page.getByLabel('Gapless playback').isChecked(), true);
    assert.equal(await page.getByLabel('Crossfade').inputValue(), '0');
    await page.getByLabel('Crossfade').selectOption('6');
    await page.getByText('Crossfade: 6 s').waitFor();
    await page.getByLabel('Gapless playback').uncheck();
    await page.getByText('Gapless playback off').waitFor();
    await page.waitForTimeout(300);
    await page.reload();
    assert.equal(await page.getByLabel('Crossfade').inputValue(), '6');
    assert.equal(await page.getByLabel('Gapless playback').isChecked(), false);
    await page.getByLabel('Crossfade').selectOption('0');
    await page.getByLabel('Gapless playback').check();
    await page.waitForTimeout(300);
  });

  it('edits the queue: play next, move, remove, clear', async () => {
    const { page } = listener;
    await page.goto('/');
    await page.getByRole('button', { name: 'Play Aria' }).click();
    await page.locator('[data-queue-open]').click();
    const titles = () => page.locator('[data-queue-list] .title').allTextContents();
    await page.waitForFunction(() => document.querySelectorAll('[data-queue-list] li[data-queue-index]').length >= 3);
    const queued = await titles();
    const current = queued.indexOf('Aria');
    assert.equal(await page.locator('[data-queue-list] li[aria-current="true"] .title').textContent(), 'Aria');
    const last = queued[queued.length - 1];
    await page.getByRole('button', { name: `Play ${last} next` }).click();
    assert.equal((await titles())[current + 1], last);
    await page.getByRole('button', { name: `Move ${last} down` }).click();
    assert.equal((await titles())[current + 2], last);
    await page.getByRole('button', { name: `Remove ${last} from the queue` }).click();
    assert.equal((await titles()).length, queued.length - 1);
    assert.ok(!(await titles()).includes(last));
    await page.locator('[data-queue-clear]').click();
    await page.locator('[data-queue-list] .empty').waitFor();
    await page.getByRole('button', { name: 'Close queue' }).click();
    await page.locator('[data-player]').waitFor({ state: 'hidden' });
  });

  it('renames, publishes, trims and deletes a playlist', async () => {
    const { page } = listener;
    await page.goto('/playlists');
    await page.getByRole('link', { name: 'Road trip copy' }).click();
    await page.locator('[data-playlist-name]').fill('Night drive');
    await page.locator('[data-playlist-name]').press('Enter');
    await page.locator('[data-playlist-name]').blur();
    await page.locator('[data-save-state]').filter({ hasText: 'Saved' }).waitFor();
    await page.locator('[data-playlist-public]').check();
    await page.locator('[data-save-state]').filter({ hasText: 'Public' }).waitFor();
    await page.getByRole('button', { name: 'Remove Aria' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-entries] [data-entry-id]').length === 2);
    const id = page.url().split('/').pop();
    const saved = await page.evaluate((pid) => fetch(`/api/playlists/${pid}`).then((r) => r.json()), id);
    assert.deepEqual([saved.name, saved.public, saved.entries.length], ['Night drive', true, 2]);
    await page.locator('[data-playlist-delete]').click(); // the confirm() is accepted by the dialog handler
    await page.waitForURL(/\/playlists$/);
    assert.equal(await page.getByRole('link', { name: 'Night drive' }).count(), 0);
  });

  it('keeps a 100,000-song library virtualised: a few dozen rows in the DOM however far one scrolls', async () => {
    stack.sql(`
      INSERT INTO artists (id, name) VALUES ('00000000-0000-0000-0000-00000000a001', 'Bulk Artist');
      INSERT INTO albums (id, title, artist_id) VALUES ('00000000-0000-0000-0000-00000000b001', 'Bulk Album', '00000000-0000-0000-0000-00000000a001');
      INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, size_bytes, content_hash, storage, path, search_text)
        SELECT gen_random_uuid(), 'Bulk ' || lpad(i::text, 6, '0'), '00000000-0000-0000-0000-00000000a001',
               '00000000-0000-0000-0000-00000000b001', 180000, 'mp3', 1000, md5(i::text) || md5((-i)::text), 'media',
               'bulk/' || i || '.mp3', 'bulk ' || i
        FROM generate_series(1, 100000) i;
      ANALYZE songs;`);
    const { page } = listener;
    await page.goto('/');
    await page.locator('.song-row').first().waitFor();
    const list = page.locator('.songlist');
    // Scrolled to the end again and again until 1,000 songs have loaded page by page: a wait for the list to
    // grow (a minute at most), not for a number of 150 ms pauses, which a loaded machine once outran.
    await page.waitForFunction(() => {
      const el = document.querySelector('.songlist');
      el.scrollTop = el.scrollHeight;
      return Math.round(el.querySelector('.songlist-spacer').offsetHeight / 52) >= 1000;
    }, null, { timeout: 60000, polling: 100 });
    await page.waitForFunction(() => !document.querySelector('.songlist-status')?.textContent.includes('Loading'));
    const loaded = await list.evaluate((el) => Math.round(el.querySelector('.songlist-spacer').offsetHeight / 52));
    const rows = await page.locator('.song-row').count();
    console.log(`songs loaded by scrolling: ${loaded}; rows in the DOM: ${rows}`);
    assert.ok(loaded >= 1000, `pages kept loading while scrolling (${loaded})`);
    assert.ok(rows < 80, `only the visible rows exist (${rows})`);
    // The rows in the DOM are the ones on screen, wherever that is.
    const { top, drawn } = await list.evaluate((el) => ({
      top: Math.floor(el.scrollTop / 52),
      drawn: [...el.querySelectorAll('.song-row')].map((r) => Number(r.dataset.index)),
    }));
    assert.ok(drawn.includes(top) && drawn.includes(top + 5), `rows ${Math.min(...drawn)}–${Math.max(...drawn)} drawn around row ${top}`);
    await shot(page, 'songs-100k');
  });

  it('connects a Subsonic app: a password shown once that works through nginx until it is revoked', async () => {
    const { page } = listener;
    await page.goto('/settings');
    await page.getByRole('heading', { name: 'Subsonic apps' }).waitFor();
    await page.getByRole('button', { name: 'Create password' }).click();
    await page.locator('[data-field-error="name"]').filter({ hasText: /./ }).waitFor();
    await page.getByLabel('App or device').fill('Phone <Symfonium> & "friends"');
    await page.getByRole('button', { name: 'Create password' }).click();
    const secret = (await page.locator('[data-secret]').textContent()).trim();
    assert.match(secret, /^[A-Za-z0-9_-]{24}$/);
    assert.equal(await page.locator('[data-new-secret] h2').textContent(), '“Phone <Symfonium> & "friends"” is ready', 'user text stays text');
    await shot(page, 'subsonic-password');
    const ping = async () => {
      const response = await page.request.get(`/rest/ping.view?f=json&c=e2e&v=1.16.1&u=clara&p=${secret}`);
      assert.equal(response.status(), 200);
      return (await response.json())['subsonic-response'].status;
    };
    assert.equal(await ping(), 'ok');
    const albums = await page.request.get(`/rest/getAlbumList2?type=newest&u=clara&p=${secret}`);
    assert.match(await albums.text(), /<subsonic-response[^>]+status="ok"/, 'XML through nginx, not the web page');
    // Shown once: a reload lists the app, not its password.
    await page.reload();
    const row = page.locator('[data-credential]');
    await row.waitFor();
    assert.equal(await page.locator('[data-secret]').count(), 0);
    assert.match(await row.textContent(), /Phone <Symfonium>/);
    assert.doesNotMatch(await page.locator('[data-main]').textContent(), new RegExp(secret));
    await page.getByRole('button', { name: /Revoke Phone/ }).click(); // the confirm() is accepted by the dialog handler
    await page.getByText('No app is connected yet.').waitFor();
    assert.equal(await ping(), 'failed');
  });

  it('plays Apple Lossless, which Chromium cannot decode, through a transcode, and streams at the chosen quality', async () => {
    const alac = makeAudio(stack.fixtures, 'lullaby', { title: 'Lossless Lullaby', artist: 'Apple Quartet', album: 'Lossless', hz: 610, ext: 'm4a' });
    await admin.page.getByRole('link', { name: 'Admin' }).click();
    await admin.page.locator('[data-upload-input]').setInputFiles([alac]);
    await admin.page.locator('[data-upload-file="lullaby.m4a"][data-outcome="added"]').waitFor({ timeout: 15000 });

    const { page } = listener;
    assert.equal(await page.evaluate(() => new Audio().canPlayType('audio/mp4; codecs="alac"')), '', 'Chromium has no ALAC decoder');
    const streams = [];
    page.on('response', (r) => r.url().includes('/stream') && streams.push([r.url(), r.status(), r.headers()['content-type']]));
    await page.goto('/?q=lullaby');
    await page.getByRole('button', { name: 'Play Lossless Lullaby', exact: true }).click();
    await playingPast(page, 1);
    const transcoded = streams.find(([url]) => url.includes('format=opus'));
    assert.ok(transcoded, `streams: ${JSON.stringify(streams)}`);
    assert.equal(transcoded[1], 200);
    assert.match(transcoded[2], /^audio\/ogg/);
    await shot(page, 'transcoded-alac');

    // Low quality: a 64k MP3 still goes as stored, a FLAC is transcoded under 96 kbit/s.
    await page.goto('/settings');
    await page.getByLabel('Streaming quality').selectOption('low');
    await page.goto('/?q=largo');
    streams.length = 0;
    await page.getByRole('button', { name: 'Play Largo', exact: true }).click();
    await playingPast(page, 1);
    assert.ok(streams.some(([url]) => url.includes('max_bitrate=96')), `FLAC under 96 kbit/s: ${JSON.stringify(streams)}`);
    await page.goto('/?q=allegro');
    streams.length = 0;
    await page.getByRole('button', { name: 'Play Allegro con brio', exact: true }).click();
    await playingPast(page, 0.5);
    assert.ok(streams.length && streams.every(([url]) => /\/stream$/.test(url)), `a 64k MP3 as stored: ${JSON.stringify(streams)}`);
    await page.reload();
    await page.goto('/settings');
    assert.equal(await page.getByLabel('Streaming quality').inputValue(), 'low', 'remembered in this browser');
    await page.getByLabel('Streaming quality').selectOption('original');
  });

  it('signs out and forgets the player', async () => {
    const { page } = listener;
    await page.goto('/');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Fermata' }).waitFor();
    assert.equal(await page.locator('[data-player]').isHidden(), true);
    await page.goto('/favourites');
    await page.waitForURL(/\/login/);
  });

  it('logged no console errors and no uncaught exceptions', () => {
    assert.deepEqual(problems, []);
  });
});

