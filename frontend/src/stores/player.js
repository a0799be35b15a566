// The player: the queue, the two audio elements (the current one and the next one, preloaded so a track change
// is as close to gapless as the browser allows), loudness normalisation through Web Audio, play reporting,
// the Media Session and persistence of queue and position across reloads.
//
// Events: `queue` (queue, index or modes changed), `track` (another song is current), `state` (playing or
// paused), `time` (position moved), `volume`.
import { api } from '../api.js';
import { LOUDNESS_MODES, gainAt } from '../loudness.js';

const STORAGE_KEY = 'fermata.player.v1';
const REPEATS = ['off', 'all', 'one'];
/** Streaming quality → the bitrate ceiling asked of the server (kbit/s); `original` sends files as stored. */
export const QUALITIES = { original: null, high: 256, normal: 160, low: 96 };
/** What the browser is asked whether it plays, per stored codec (the server's `codec` names). */
const CODEC_TYPES = {
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  vorbis: 'audio/ogg; codecs="vorbis"',
  opus: 'audio/ogg; codecs="opus"',
  aac: 'audio/mp4; codecs="mp4a.40.2"',
  wav: 'audio/wav',
  aiff: 'audio/aiff',
  alac: 'audio/mp4; codecs="alac"',
  wavpack: 'audio/x-wavpack',
};
/** Transcode formats in order of preference, and how to ask the browser about each. */
const TARGETS = [['opus', 'audio/ogg; codecs="opus"'], ['aac', 'audio/mp4; codecs="mp4a.40.2"'], ['mp3', 'audio/mpeg']];
const probe = new Audio();

/**
 * The address a song is played from: the stored file when this browser plays its codec and it is within the
 * quality's ceiling, otherwise a transcode to the best format the browser plays (the server passes the file
 * through anyway when it already fits). A song stored before codecs were kept (an old saved queue) is assumed
 * playable.
 */
export function playUrl(song, quality) {
  const type = CODEC_TYPES[song.codec];
  const playable = !song.codec || (type !== undefined && probe.canPlayType(type) !== '');
  const ceiling = QUALITIES[quality] ?? null;
  if (playable && (ceiling === null || (song.bitrate && song.bitrate <= ceiling))) return song.stream_url;
  const format = TARGETS.find(([, t]) => probe.canPlayType(t) !== '')?.[0] ?? 'mp3';
  const query = new URLSearchParams({ format, max_bitrate: String(ceiling ?? QUALITIES.high) });
  return `${song.stream_url}?${query}`;
}

/** The fields the player needs of a song; stored queues stay small. */
const slim = (s) => ({
  id: s.id,
  title: s.title,
  artist: s.artist,
  album: s.album,
  track: s.track ?? null,
  disc: s.disc ?? null,
  duration: s.duration,
  cover_url: s.cover_url,
  stream_url: s.stream_url,
  codec: s.codec,
  bitrate: s.bitrate ?? null,
  loudness_lufs: s.loudness_lufs ?? null,
  true_peak_db: s.true_peak_db ?? null,
});

function shuffled(items) {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

class PlayerStore extends EventTarget {
  queue = [];
  index = -1;
  shuffle = false;
  repeat = 'off';
  volume = 0.8;
  muted = false;
  normalise = true;
  /** Album gain for an album played in order, or track gain for every song (src/loudness.js). */
  loudnessMode = 'album';
  /** Streaming quality, a key of QUALITIES. */
  quality = 'original';
  /** The queue's order before shuffle was switched on (song ids), restored when it is switched off. */
  #unshuffled = null;

  #audio = [new Audio(), new Audio()];
  #current = 0;
  #graph = null;
  #listened = 0;
  #lastTime = 0;
  #reported = false;
  #saveTimer = 0;
  #lastSave = 0;

  constructor() {
    super();
    for (const audio of this.#audio) {
      audio.preload = 'auto';
      audio.addEventListener('timeupdate', () => audio === this.audio && this.#onTime());
      audio.addEventListener('play', () => audio === this.audio && this.#onState());
      audio.addEventListener('pause', () => audio === this.audio && this.#onState());
      audio.addEventListener('ended', () => audio === this.audio && this.#onEnded());
      audio.addEventListener('loadedmetadata', () => audio === this.audio && this.#emit('time'));
      audio.addEventListener('error', () => audio === this.audio && this.#emit('error'));
    }
    this.#restore();
    this.#mediaSession();
    window.addEventListener('pagehide', () => this.save());
  }

  /** The two audio elements (main.js puts them in the document, hidden, so they can be inspected). */
  get elements() {
    return this.#audio;
  }

  get audio() {
    return this.#audio[this.#current];
  }
  get #spare() {
    return this.#audio[1 - this.#current];
  }
  get song() {
    return this.queue[this.index] ?? null;
  }
  get playing() {
    return !this.audio.paused && !this.audio.ended;
  }
  get currentTime() {
    return this.audio.currentTime || 0;
  }
  get duration() {
    return Number.isFinite(this.audio.duration) ? this.audio.duration : (this.song?.duration ?? 0);
  }

  // ---- queue ----

  /** Replaces the queue with `songs` and plays from `start`. */
  playSongs(songs, start = 0) {
    if (!songs.length) return;
    let list = songs.map(slim);
    this.#unshuffled = null;
    if (this.shuffle) {
      const first = list[start];
      this.#unshuffled = list.map((s) => s.id);
      list = [first, ...shuffled(list.filter((_, i) => i !== start))];
      start = 0;
    }
    this.queue = list;
    this.#load(start, true);
  }

  /** Puts songs right after the current one. */
  playNext(songs) {
    const list = songs.map(slim);
    if (this.index < 0) return this.playSongs(list);
    this.queue.splice(this.index + 1, 0, ...list);
    this.#unshuffled?.push(...list.map((s) => s.id));
    this.#changed();
  }

  enqueue(songs) {
    const list = songs.map(slim);
    if (this.index < 0) return this.playSongs(list);
    this.queue.push(...list);
    this.#unshuffled?.push(...list.map((s) => s.id));
    this.#changed();
  }

  jump(i) {
    if (i >= 0 && i < this.queue.length) this.#load(i, true);
  }

  move(from, to) {
    if (from === to || from < 0 || to < 0 || from >= this.queue.length || to >= this.queue.length) return;
    const [song] = this.queue.splice(from, 1);
    this.queue.splice(to, 0, song);
    if (this.index === from) this.index = to;
    else if (from < this.index && to >= this.index) this.index--;
    else if (from > this.index && to <= this.index) this.index++;
    this.#changed();
  }

  remove(i) {
    if (i < 0 || i >= this.queue.length) return;
    const wasCurrent = i === this.index;
    const [gone] = this.queue.splice(i, 1);
    if (this.#unshuffled) this.#unshuffled.splice(this.#unshuffled.indexOf(gone.id), 1);
    if (i < this.index) this.index--;
    if (!this.queue.length) return this.clear();
    if (wasCurrent) this.#load(Math.min(i, this.queue.length - 1), this.playing);
    else this.#changed();
  }

  /** Empties the queue and stops. */
  clear() {
    this.audio.pause();
    for (const audio of this.#audio) {
      audio.removeAttribute('src');
      audio.load();
    }
    this.queue = [];
    this.index = -1;
    this.#unshuffled = null;
    this.#emit('track');
    this.#changed();
  }

  // ---- transport ----

  async play() {
    if (!this.song) return;
    this.#ensureGraph();
    try {
      await this.audio.play();
    } catch (error) {
      // A browser refusing autoplay before any gesture is not an error worth showing.
      if (error.name !== 'NotAllowedError' && error.name !== 'AbortError') this.#emit('error');
    }
  }

  pause() {
    this.audio.pause();
  }

  toggle() {
    return this.playing ? this.pause() : this.play();
  }

  next() {
    if (!this.queue.length) return;
    if (this.index + 1 < this.queue.length) this.#load(this.index + 1, true);
    else if (this.repeat === 'all') this.#load(0, true);
  }

  /** Back to the start of the song when past its first 3 seconds, else the previous song. */
  previous() {
    if (this.currentTime > 3 || this.index <= 0) {
      if (this.index === 0 && this.repeat === 'all' && this.currentTime <= 3) return this.#load(this.queue.length - 1, true);
      return this.seek(0);
    }
    this.#load(this.index - 1, true);
  }

  seek(seconds) {
    const d = this.duration;
    this.audio.currentTime = Math.max(0, d ? Math.min(seconds, d - 0.05) : seconds);
    this.#lastTime = this.audio.currentTime;
    this.#emit('time');
  }

  setVolume(v) {
    this.volume = Math.min(1, Math.max(0, v));
    if (this.volume > 0) this.muted = false;
    this.#applyVolume();
  }

  toggleMute() {
    this.muted = !this.muted;
    this.#applyVolume();
  }

  toggleShuffle() {
    this.shuffle = !this.shuffle;
    const current = this.song;
    if (this.shuffle && this.queue.length) {
      this.#unshuffled = this.queue.map((s) => s.id);
      const rest = shuffled(this.queue.filter((_, i) => i !== this.index));
      this.queue = current ? [current, ...rest] : rest;
      this.index = current ? 0 : -1;
    } else if (!this.shuffle && this.#unshuffled) {
      const byId = new Map(this.queue.map((s) => [s.id, s]));
      this.queue = this.#unshuffled.map((id) => byId.get(id)).filter(Boolean);
      this.index = current ? this.queue.findIndex((s) => s.id === current.id) : -1;
      this.#unshuffled = null;
    }
    this.#changed();
  }

  cycleRepeat() {
    this.repeat = REPEATS[(REPEATS.indexOf(this.repeat) + 1) % REPEATS.length];
    this.#changed();
  }

  /** Changes the streaming quality: the next track (and the preloaded one) is fetched at it. */
  setQuality(quality) {
    if (!(quality in QUALITIES)) return;
    this.quality = quality;
    const spare = this.#spare;
    if (spare.dataset.songId) {
      delete spare.dataset.songId;
      this.#preloadNext();
    }
    this.#changed();
  }

  setNormalise(on) {
    this.normalise = on;
    this.#applyVolume();
    this.#changed();
  }

  setLoudnessMode(mode) {
    if (!LOUDNESS_MODES.includes(mode)) return;
    this.loudnessMode = mode;
    this.#applyVolume();
    this.#changed();
  }

  // ---- internals ----

  /** Makes queue[i] current; reuses the preloaded element when it already holds that song. */
  #load(i, autoplay, position = 0) {
    const song = this.queue[i];
    if (!song) return;
    const wasPlaying = autoplay;
    this.audio.pause();
    if (this.#spare.dataset.songId === song.id && position === 0) {
      this.#current = 1 - this.#current;
    } else {
      this.audio.src = playUrl(song, this.quality);
      this.audio.dataset.songId = song.id;
    }
    this.index = i;
    this.#listened = 0;
    this.#reported = false;
    this.#lastTime = position;
    if (position) {
      const at = position;
      const audio = this.audio;
      if (audio.readyState >= 1) audio.currentTime = at;
      else audio.addEventListener('loadedmetadata', () => (audio.currentTime = at), { once: true });
    } else if (this.audio.currentTime) {
      this.audio.currentTime = 0;
    }
    this.#applyVolume();
    this.#preloadNext();
    this.#emit('track');
    this.#changed();
    this.#updateMediaSession();
    if (wasPlaying) this.play();
  }

  #preloadNext() {
    const next = this.repeat === 'one' ? null : (this.queue[this.index + 1] ?? (this.repeat === 'all' ? this.queue[0] : null));
    const spare = this.#spare;
    spare.pause();
    if (!next) {
      if (spare.getAttribute('src')) {
        spare.removeAttribute('src');
        delete spare.dataset.songId;
        spare.load();
      }
      return;
    }
    if (spare.dataset.songId !== next.id) {
      spare.src = playUrl(next, this.quality);
      spare.dataset.songId = next.id;
    } else if (spare.currentTime) {
      spare.currentTime = 0;
    }
  }

  #onEnded() {
    if (this.repeat === 'one') {
      this.#listened = 0;
      this.#reported = false;
      this.seek(0);
      this.play();
    } else if (this.index + 1 < this.queue.length || this.repeat === 'all') {
      this.next();
    } else {
      this.#emit('state');
    }
  }

  #onTime() {
    const t = this.audio.currentTime;
    const step = t - this.#lastTime;
    // Only time actually listened counts towards a play (a seek is not listening).
    if (step > 0 && step < 2) this.#listened += step;
    this.#lastTime = t;
    const song = this.song;
    if (song && !this.#reported && this.#listened >= Math.min(30, (this.duration || song.duration) / 2)) {
      this.#reported = true;
      api.post(`/api/music/${song.id}/play`).catch(() => {});
    }
    this.#emit('time');
    if (Date.now() - this.#lastSave > 2000) this.save();
    if ('mediaSession' in navigator && this.duration) {
      try {
        navigator.mediaSession.setPositionState({ duration: this.duration, position: Math.min(t, this.duration), playbackRate: 1 });
      } catch {
        /* position past duration while metadata settles */
      }
    }
  }

  /** Web Audio for normalisation: created on the first play (browsers require a gesture). */
  #ensureGraph() {
    if (this.#graph || !window.AudioContext) {
      this.#graph?.context.resume?.();
      return;
    }
    try {
      const context = new AudioContext();
      const gains = this.#audio.map((audio) => {
        const gain = context.createGain();
        context.createMediaElementSource(audio).connect(gain).connect(context.destination);
        return gain;
      });
      this.#graph = { context, gains };
      this.#applyVolume();
    } catch {
      this.#graph = null;
    }
  }

  /** The gain for the queue entry at `index`: the target loudness without a true peak past -1 dBTP. */
  gainFor(index) {
    return this.normalise ? gainAt(this.queue, index, this.loudnessMode) : 1;
  }

  #applyVolume() {
    const level = this.muted ? 0 : this.volume;
    for (const audio of this.#audio) audio.volume = level;
    this.#applyGains();
    this.#emit('volume');
    this.#scheduleSave();
  }

  #mediaSession() {
    if (!('mediaSession' in navigator)) return;
    const handlers = {
      play: () => this.play(),
      pause: () => this.pause(),
      previoustrack: () => this.previous(),
      nexttrack: () => this.next(),
      seekto: (d) => this.seek(d.seekTime),
      seekbackward: (d) => this.seek(this.currentTime - (d.seekOffset || 10)),
      seekforward: (d) => this.seek(this.currentTime + (d.seekOffset || 10)),
    };
    for (const [action, handler] of Object.entries(handlers)) {
      try {
        navigator.mediaSession.setActionHandler(action, handler);
      } catch {
        /* an action this browser does not know */
      }
    }
  }

  /** Playing or paused: the page, and the lock screen or media notification, which reads it from the session. */
  #onState() {
    if ('mediaSession' in navigator) navigator.mediaSession.playbackState = this.playing ? 'playing' : 'paused';
    this.#emit('state');
  }

  #updateMediaSession() {
    if (!('mediaSession' in navigator)) return;
    const song = this.song;
    if (!song) {
      navigator.mediaSession.metadata = null;
      return;
    }
    const artwork = song.cover_url
      ? [300, 600].map((size) => ({ src: `${song.cover_url}?size=${size}`, sizes: `${size}x${size}`, type: 'image/jpeg' }))
      : [];
    navigator.mediaSession.metadata = new MediaMetadata({ title: song.title, artist: song.artist.name, album: song.album.name, artwork });
  }

  /** Gains for the current and the next song: album gain depends on the queue around them, so any change of
   * queue or index can change them. */
  #applyGains() {
    if (!this.#graph) return;
    this.#graph.gains[this.#current].gain.value = this.gainFor(this.index);
    this.#graph.gains[1 - this.#current].gain.value = this.gainFor(this.index + 1);
  }

  #changed() {
    this.#applyGains();
    this.#preloadNext();
    this.#emit('queue');
    this.#scheduleSave();
  }

  #emit(type) {
    this.dispatchEvent(new Event(type));
  }

  #scheduleSave() {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = setTimeout(() => this.save(), 200);
  }

  save() {
    this.#lastSave = Date.now();
    const state = {
      queue: this.queue,
      index: this.index,
      position: this.currentTime,
      shuffle: this.shuffle,
      repeat: this.repeat,
      volume: this.volume,
      muted: this.muted,
      normalise: this.normalise,
      loudnessMode: this.loudnessMode,
      quality: this.quality,
      unshuffled: this.#unshuffled,
    };
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch {
      /* storage full or disabled: the queue just won't survive a reload */
    }
  }

  #restore() {
    let state;
    try {
      state = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    } catch {
      state = null;
    }
    if (!state || !Array.isArray(state.queue)) return;
    this.queue = state.queue.filter((s) => s && typeof s.id === 'string' && typeof s.stream_url === 'string');
    this.shuffle = !!state.shuffle;
    this.repeat = REPEATS.includes(state.repeat) ? state.repeat : 'off';
    this.volume = Number.isFinite(state.volume) ? Math.min(1, Math.max(0, state.volume)) : 0.8;
    this.muted = !!state.muted;
    this.normalise = state.normalise !== false;
    this.loudnessMode = LOUDNESS_MODES.includes(state.loudnessMode) ? state.loudnessMode : 'album';
    this.quality = state.quality in QUALITIES ? state.quality : 'original';
    this.#unshuffled = Array.isArray(state.unshuffled) ? state.unshuffled : null;
    const index = Number.isInteger(state.index) ? state.index : -1;
    if (index >= 0 && index < this.queue.length) this.#load(index, false, Number(state.position) || 0);
  }

  /** Forgets everything (sign out on a shared computer). */
  forget() {
    this.clear();
    localStorage.removeItem(STORAGE_KEY);
  }
}

export const player = new PlayerStore();
