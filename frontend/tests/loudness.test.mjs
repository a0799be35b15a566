// The loudness rules of the player (src/loudness.js), in Node: no browser needed for arithmetic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { albumRun, combinedLoudness, gainAt } from '../src/loudness.js';

const song = (album, track, loudness_lufs, true_peak_db, duration = 200, disc = null) =>
  ({ id: `${album}${disc ?? ''}-${track}`, album: { id: album }, track, disc, loudness_lufs, true_peak_db, duration });
const db = (gain) => Math.round(20 * Math.log10(gain) * 100) / 100;

describe('loudness normalisation', () => {
  it('brings a song to -14 LUFS, held back by its true peak', () => {
    assert.equal(db(gainAt([song('a', 1, -20, -12)], 0, 'track')), 6);
    assert.equal(db(gainAt([song('a', 1, -20, -6)], 0, 'track')), 5, 'a peak of -6 dBTP allows +5 dB');
    assert.equal(db(gainAt([song('a', 1, -4, 0)], 0, 'track')), -10);
    assert.equal(gainAt([song('a', 1, null, null)], 0, 'album'), 1, 'not analysed yet: left alone');
    assert.equal(db(gainAt([song('a', 1, -60, -50)], 0, 'track')), 12, 'never more than +12 dB');
  });

  it('combines loudness by energy over time, not by averaging decibels', () => {
    const { lufs, peak } = combinedLoudness([song('a', 1, -10, -3), song('a', 2, -20, -1)]);
    assert.equal(Math.round(lufs * 1000) / 1000, -12.596);
    assert.equal(peak, -1);
    const weighted = combinedLoudness([song('a', 1, -10, null, 300), song('a', 2, -20, null, 100)]);
    assert.equal(Math.round(weighted.lufs * 1000) / 1000, -11.107, 'the longer song weighs more');
    assert.equal(combinedLoudness([song('a', 1, null, null)]), null);
  });

  it('finds an album played in order, and only then', () => {
    const queue = [song('x', 4, -14, -2), song('a', 1, -14, -2), song('a', 2, -14, -2), song('a', 3, -14, -2), song('b', 1, -14, -2)];
    assert.deepEqual(albumRun(queue, 2).map((s) => s.id), ['a-1', 'a-2', 'a-3']);
    assert.equal(albumRun(queue, 0), null, 'a song alone');
    const shuffled = [song('a', 3, -14, -2), song('a', 1, -14, -2), song('a', 2, -14, -2)];
    assert.deepEqual(albumRun(shuffled, 0), null, 'track 3 then track 1 is not in order');
    assert.deepEqual(albumRun(shuffled, 2).map((s) => s.id), ['a-1', 'a-2']);
    const discs = [song('d', 9, -14, -2, 200, 1), song('d', 1, -14, -2, 200, 2)];
    assert.equal(albumRun(discs, 1).length, 2, 'disc 1 track 9 is followed by disc 2 track 1');
  });

  it('keeps a quiet interlude quiet by album, and levels it by track', () => {
    const album = [song('a', 1, -10, -3), song('a', 2, -30, -20, 60), song('a', 3, -10, -3)];
    const byAlbum = album.map((_, i) => db(gainAt(album, i, 'album')));
    assert.equal(new Set(byAlbum).size, 1, `one gain for the whole album: ${byAlbum}`);
    assert.equal(byAlbum[0], -3.4, 'the album as a whole is -10.6 LUFS');
    const byTrack = album.map((_, i) => db(gainAt(album, i, 'track')));
    assert.deepEqual(byTrack, [-4, 12, -4], 'by track the interlude is raised to the cap');
    const alone = [song('z', 1, -10, -3), album[1]];
    assert.equal(db(gainAt(alone, 1, 'album')), 12, 'out of its album, an interlude gets track gain');
  });
});
