// Decoded audio for gapless playback: songs fetched and decoded ahead with Web Audio, so the player can start the
// next one on the exact sample where the current one ends. The browser's decoder trims encoder delay and padding
// (the LAME header of MP3, the edit list of AAC in MP4, Opus pre-skip: Chromium's decodeAudioData honours all
// three), so a continuous recording split into files decodes back continuous. Decoded audio is large (32-bit
// float per channel: about 23 MB per minute of 48 kHz stereo), so only the current and the next songs are kept,
// and songs longer than MAX_DECODE_SECONDS are never decoded (they play from the streaming element instead).

/** Longer songs play from the audio element alone: no decoding of hours of audio into memory. */
export const MAX_DECODE_SECONDS = 15 * 60;
/** Crossfade lengths a listener may choose (seconds); 0 is off. */
export const CROSSFADES = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12];


/**
 * Equal-power fade curves of `points` values: the outgoing song's gain falls along cos, the incoming one's rises
 * along sin, so the summed power stays constant through the crossfade.
 */
export function equalPowerCurves(points = 64) {
  const out = new Float32Array(points);
  const into = new Float32Array(points);
  for (let i = 0; i < points; i++) {
    const x = (i / (points - 1)) * (Math.PI / 2);
    out[i] = Math.cos(x);
    into[i] = Math.sin(x);
  }
  return { out, into };
}

/**
 * Decoded songs by address, at most `limit` kept (the current and the next). A song that cannot be decoded is
 * remembered, so the player does not try again and plays it from the element.
 */
export class DecodeCache {
  #entries = new Map();
  #failed = new Set();

  constructor(context, limit = 2) {
    this.context = context;
    this.limit = limit;
  }

  /** Whether `url` is worth decoding (not too long, not already refused). */
  eligible(url, duration) {
    return !!url && !this.#failed.has(url) && Number.isFinite(duration) && duration > 0 && duration <= MAX_DECODE_SECONDS;
  }

  /** The decoded buffer if it is ready, else null. */
  ready(url) {
    return this.#entries.get(url)?.buffer ?? null;
  }

  /**
   * Starts decoding `url` (if not already), keeping only the addresses in `keep` besides it; resolves to the
   * buffer, or null when the song cannot be decoded.
   */
  load(url, keep = []) {
    for (const key of [...this.#entries.keys()]) {
      if (key !== url && !keep.includes(key)) this.#drop(key);
    }
    const existing = this.#entries.get(url);
    if (existing) return existing.promise;
    if (this.#entries.size >= this.limit) this.#drop(this.#entries.keys().next().value);
    const controller = new AbortController();
    const entry = { buffer: null, controller, promise: null };
    entry.promise = fetch(url, { credentials: 'same-origin', signal: controller.signal })
      .then((response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.arrayBuffer();
      })
      .then((bytes) => this.context.decodeAudioData(bytes))
      .then((buffer) => {
        if (this.#entries.get(url) === entry) entry.buffer = buffer;
        return buffer;
      })
      .catch((error) => {
        if (error.name !== 'AbortError') this.#failed.add(url);
        if (this.#entries.get(url) === entry) this.#entries.delete(url);
        return null;
      });
    this.#entries.set(url, entry);
    return entry.promise;
  }

  /** Decoded bytes held now (for the memory figures). */
  get bytes() {
    let total = 0;
    for (const { buffer } of this.#entries.values()) if (buffer) total += buffer.length * buffer.numberOfChannels * 4;
    return total;
  }

  clear() {
    for (const key of [...this.#entries.keys()]) this.#drop(key);
  }

  #drop(key) {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (!entry.buffer) entry.controller.abort();
    this.#entries.delete(key);
  }
}
