// Loudness normalisation: the gain that brings a song to the target loudness, judged on the song alone (track
// gain) or on the album it is being played with (album gain, so a quiet interlude stays quieter than the songs
// around it). Pure functions of the queue: no DOM, no audio; tests/loudness.test.mjs runs them in Node.

export const TARGET_LUFS = -14;
/** Never louder than this true peak: the headroom lossy decoding and resampling need. */
export const MAX_TRUE_PEAK_DB = -1;
/** Listener settings: `track` judges every song alone; `album` judges an album played in order as one. */
export const LOUDNESS_MODES = ['album', 'track'];

const analysed = (song) => Number.isFinite(song?.loudness_lufs);

/**
 * The loudness of songs played one after another, as one programme: their energies averaged by duration (how
 * EBU R128 integrates, without re-gating the whole), and the highest true peak. Songs not analysed yet are
 * left out; null when none is.
 */
export function combinedLoudness(songs) {
  let energy = 0;
  let seconds = 0;
  let peak = null;
  for (const song of songs) {
    if (!analysed(song)) continue;
    const weight = Math.max(song.duration || 0, 0.001);
    energy += weight * 10 ** (song.loudness_lufs / 10);
    seconds += weight;
    if (Number.isFinite(song.true_peak_db)) peak = Math.max(peak ?? -Infinity, song.true_peak_db);
  }
  return seconds ? { lufs: 10 * Math.log10(energy / seconds), peak } : null;
}

/**
 * Whether `b` plays on from `a` as the same album in order: the same album, `b` after `a` (a later disc, or a
 * later track on the same disc; a missing track number does not break the order).
 */
export function continuesAlbum(a, b) {
  const album = a?.album?.id;
  if (!album || b?.album?.id !== album) return false;
  const [discA, trackA, discB, trackB] = [a.disc ?? 1, a.track, b.disc ?? 1, b.track];
  if (trackA == null || trackB == null) return discA <= discB;
  return discA < discB || (discA === discB && trackA < trackB);
}

/**
 * The run of queue entries around `index` that plays one album in order (each entry continues the one
 * before). Null for a song played alone or out of order (a shuffled queue, a playlist that visits the album
 * for one song).
 */
export function albumRun(queue, index) {
  if (!queue[index]?.album?.id) return null;
  let first = index;
  while (first > 0 && continuesAlbum(queue[first - 1], queue[first])) first--;
  let last = index;
  while (last < queue.length - 1 && continuesAlbum(queue[last], queue[last + 1])) last++;
  return last > first ? queue.slice(first, last + 1) : null;
}

/** The linear gain for the queue entry at `index` in the given mode; 1 when the song is not analysed yet. */
export function gainAt(queue, index, mode) {
  const song = queue[index];
  if (!analysed(song)) return 1;
  const run = mode === 'album' ? albumRun(queue, index) : null;
  const { lufs, peak } = (run && combinedLoudness(run)) || { lufs: song.loudness_lufs, peak: song.true_peak_db };
  let db = TARGET_LUFS - lufs;
  // Album gain is bounded by the album's highest peak, so one gain serves every track and none clips.
  if (Number.isFinite(peak)) db = Math.min(db, MAX_TRUE_PEAK_DB - peak);
  return 10 ** (Math.max(-24, Math.min(12, db)) / 20);
}
