// The player: the queue, gapless playback, crossfade, loudness normalisation through Web Audio, play reporting,
// the Media Session and persistence of queue and position across reloads.
//
// How songs sound: a cold song starts at once on a streaming audio element; meanwhile it and the next song are
// fetched and decoded (src/stores/gapless.js), and playback moves to the decoded audio at the element's
// position with a 30 ms equal-power handover. From then on every transition is scheduled on the audio clock:
// the next song starts on the sample where the current one ends (gapless), or overlaps it by the listener's
// crossfade with equal-power curves, except within an album played in order, which stays gapless. Songs that
// cannot be decoded ahead (too long, a format the browser cannot decode, gapless off) play from the elements as
// before: the next one preloaded in the second element and started when the first ends.
//
// Events: `queue` (queue, index or modes changed), `track` (another song is current), `state` (playing or
// paused), `time` (position moved), `volume`.
import { api } from '../api.js';
import { LOUDNESS_MODES, continuesAlbum, gainAt } from '../loudness.js';
import { CROSSFADES, DecodeCache, equalPowerCurves } from './gapless.js';

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
  sample_rate: s.sample_rate ?? null,
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
  /** Decode ahead for sample-accurate transitions; off plays every song from the audio elements. */
  gapless = true;
  /** Seconds of crossfade between songs that are not one album in order; 0 is off. */
  crossfade = 0;
  /** Transitions between decoded songs as scheduled (audio-clock seconds, newest last; the last 20). */
  seams = [];
  /** The queue's order before shuffle was switched on (song ids), restored when it is switched off. */
  #unshuffled = null;

  #audio = [new Audio(), new Audio()];
  #current = 0;
  #graph = null;
  /** Decoded songs (current and next), once the graph exists. */
  #decoded = null;
  /** The song playing from decoded audio: { node, gain, index, id, buffer, startedAt, offset }; null on an element. */
  #source = null;
  /** The next decoded song, scheduled to start: { node, gain, index, id, url, startAt, fade }. */
  #upcoming = null;
  /** Decoded playback ran past the last song of the queue. */
  #ended = false;
  #ticker = 0;
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
    if (this.#source) return !this.#ended && this.#graph.context.state === 'running';
    return !this.audio.paused && !this.audio.ended;
  }
  get currentTime() {
    if (this.#source) return this.#positionOf(this.#source);
    return this.audio.currentTime || 0;
  }
  get duration() {
    if (this.#source) return this.#source.buffer.duration;
    return Number.isFinite(this.audio.duration) ? this.audio.duration : (this.song?.duration ?? 0);
  }
  /** Whether the current song plays from decoded audio (else from an audio element). */
  get decoded() {
    return this.#source !== null;
  }
  /** The Web Audio context and the node every song passes last (null before the first play). */
  get output() {
    return this.#graph ? { context: this.#graph.context, node: this.#graph.master } : null;
  }
  /** Bytes of decoded audio held now. */
  get decodedBytes() {
    return this.#decoded?.bytes ?? 0;
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
    this.#stopDecoded();
    this.#decoded?.clear();
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
    if (this.#source) {
      if (this.#ended) return this.#load(this.index, true);
      await this.#graph.context.resume();
      this.#onState();
      return;
    }
    try {
      await this.audio.play();
      this.#decodeAhead();
    } catch (error) {
      // A browser refusing autoplay before any gesture is not an error worth showing.
      if (error.name !== 'NotAllowedError' && error.name !== 'AbortError') this.#emit('error');
    }
  }

  pause() {
    if (this.#source) {
      // The audio clock stops with everything scheduled on it, so a pause inside a crossfade resumes inside it.
      this.#graph.context.suspend().then(() => this.#onState());
      return;
    }
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
    const to = Math.max(0, d ? Math.min(seconds, d - 0.05) : seconds);
    if (this.#source) {
      const { index, buffer } = this.#source;
      this.#stopDecoded();
      this.#startDecoded(index, buffer, to);
    } else {
      this.audio.currentTime = to;
    }
    this.#lastTime = to;
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

  /** Gapless playback on or off (off: every song from the audio elements, no decoded audio held). */
  setGapless(on) {
    this.gapless = !!on;
    if (!this.gapless) {
      if (this.#source) this.#handBack();
      this.#decoded?.clear();
    } else {
      this.#decodeAhead();
    }
    this.#changed();
  }

  /** Crossfade seconds (one of CROSSFADES) between songs that are not one album in order. */
  setCrossfade(seconds) {
    if (!CROSSFADES.includes(seconds)) return;
    this.crossfade = seconds;
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
    this.#stopDecoded();
    this.audio.pause();
    // Decoded ahead already (next pressed, or the queue wrapped): no element needed, no handover.
    const buffer = autoplay && this.gapless ? this.#decoded?.ready(playUrl(song, this.quality)) : null;
    if (buffer) {
      this.index = i;
      this.#listened = 0;
      this.#reported = false;
      this.#lastTime = position;
      this.#startDecoded(i, buffer, position);
      this.#applyVolume();
      this.#emit('track');
      this.#changed();
      this.#updateMediaSession();
      this.#onState();
      return;
    }
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
    const t = this.currentTime;
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
      // At the first song's own rate when known, so decoded audio needs no resampling (FLAC stays bit-exact).
      const rate = this.song?.sample_rate;
      let context;
      try {
        context = rate ? new AudioContext({ sampleRate: rate }) : new AudioContext();
      } catch {
        context = new AudioContext();
      }
      const master = context.createGain();
      master.connect(context.destination);
      const gains = this.#audio.map((audio) => {
        const gain = context.createGain();
        context.createMediaElementSource(audio).connect(gain).connect(master);
        return gain;
      });
      this.#graph = { context, gains, master };
      this.#decoded = new DecodeCache(context);
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
    // With Web Audio the level is one gain after every song (elements and decoded alike); without it, each element's.
    if (this.#graph) this.#graph.master.gain.value = level;
    for (const audio of this.#audio) audio.volume = this.#graph ? 1 : level;
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
    // A value replaces any fade in progress (setting a value inside a scheduled curve would throw).
    const set = (param, value) => {
      param.cancelScheduledValues(0);
      param.value = value;
    };
    set(this.#graph.gains[this.#current].gain, this.#source ? 0 : this.gainFor(this.index));
    set(this.#graph.gains[1 - this.#current].gain, this.gainFor(this.index + 1));
    // Not while a fade of the decoded song is scheduled or running: the fade ends at the song's own gain.
    const fading = this.#upcoming?.fade || this.#graph.context.currentTime < (this.#source?.fadeUntil ?? 0);
    if (this.#source && !fading) set(this.#source.gain.gain, this.gainFor(this.#source.index));
  }

  #changed() {
    this.#applyGains();
    this.#preloadNext();
    this.#decodeAhead();
    this.#reschedule();
    this.#emit('queue');
    this.#scheduleSave();
  }

  // ---- decoded playback ----

  /** Position of a decoded voice, in song seconds. */
  #positionOf(voice) {
    const elapsed = this.#graph.context.currentTime - voice.startedAt;
    return Math.min(voice.buffer.duration, voice.offset + Math.max(0, elapsed));
  }

  /** The queue index that plays after the current one, or -1. */
  #nextIndex() {
    if (this.repeat === 'one') return this.index;
    if (this.index + 1 < this.queue.length) return this.index + 1;
    return this.repeat === 'all' && this.queue.length ? 0 : -1;
  }

  /** A buffer source through its own gain into the master gain. */
  #voice(buffer, level) {
    const { context, master } = this.#graph;
    const gain = context.createGain();
    gain.gain.value = level;
    gain.connect(master);
    const node = context.createBufferSource();
    node.buffer = buffer;
    node.connect(gain);
    return { node, gain };
  }

  /** A time on the audio clock a little ahead, on a sample frame, so seams computed from it stay on frames. */
  #soon(lead = 0.05) {
    const { context } = this.#graph;
    return Math.ceil((context.currentTime + lead) * context.sampleRate) / context.sampleRate;
  }

  /** Plays queue entry `index` from decoded `buffer` at `offset` seconds, starting `at` (default: soon). */
  #startDecoded(index, buffer, offset = 0, at = this.#soon(), fadeIn = 0) {
    const { context } = this.#graph;
    const start = Math.round(offset * context.sampleRate) / context.sampleRate;
    const level = this.gainFor(index);
    const voice = this.#voice(buffer, fadeIn ? 0 : level);
    if (fadeIn) voice.gain.gain.setValueCurveAtTime(equalPowerCurves().into.map((v) => v * level), at, fadeIn);
    voice.node.start(at, start);
    this.#source = { ...voice, index, id: this.queue[index]?.id, buffer, startedAt: at, offset: start, fadeUntil: at + fadeIn };
    this.#ended = false;
    context.resume();
    this.#startTicker();
    this.#reschedule();
  }

  /** Stops a decoded voice and takes it out of the graph. */
  static #release(voice) {
    try {
      voice.node.stop();
    } catch {
      /* never started */
    }
    voice.node.disconnect();
    voice.gain.disconnect();
  }

  /** Stops decoded playback (current and scheduled next). */
  #stopDecoded() {
    for (const voice of [this.#source, this.#upcoming]) if (voice) PlayerStore.#release(voice);
    this.#source = null;
    this.#upcoming = null;
    this.#ended = false;
    clearInterval(this.#ticker);
    this.#ticker = 0;
  }

  /** Fetches and decodes the current and the next songs, keeping nothing else; hands over once ready. */
  #decodeAhead() {
    if (!this.gapless || !this.#decoded || !this.song) return;
    const urlOf = (i) => (i >= 0 && this.queue[i] ? playUrl(this.queue[i], this.quality) : null);
    const current = urlOf(this.index);
    const nextIndex = this.#nextIndex();
    const next = urlOf(nextIndex);
    const keep = [current, next].filter(Boolean);
    const index = this.index;
    if (!this.#source && this.#decoded.eligible(current, this.song.duration)) {
      this.#decoded.load(current, keep).then((buffer) => {
        if (buffer && this.index === index && !this.#source && this.gapless) this.#handOver(buffer);
      });
    }
    if (next && this.#decoded.eligible(next, this.queue[nextIndex].duration)) {
      this.#decoded.load(next, keep).then((buffer) => buffer && this.#reschedule());
    }
  }

  /** From the element to decoded audio at the element's position: a 30 ms equal-power handover. */
  #handOver(buffer) {
    const audio = this.audio;
    if (audio.paused || audio.ended || audio.seeking || audio.readyState < 2) {
      // Not playing on the element yet (or paused): move once it plays.
      const index = this.index;
      audio.addEventListener('playing', () => this.index === index && !this.#source && this.#handOver(buffer), { once: true });
      return;
    }
    const { context } = this.#graph;
    const at = this.#soon();
    const position = audio.currentTime + (at - context.currentTime);
    if (position >= buffer.duration - 0.5) return; // too close to the end: this song ends on the element
    const fade = 0.03;
    const elementGain = this.#graph.gains[this.#current].gain;
    elementGain.setValueCurveAtTime(equalPowerCurves().out.map((v) => v * this.gainFor(this.index)), at, fade);
    this.#startDecoded(this.index, buffer, position, at, fade);
    this.#onState();
    setTimeout(() => {
      if (!this.#source) return;
      audio.pause();
      elementGain.cancelScheduledValues(0);
      elementGain.value = 0;
    }, (at - context.currentTime + fade) * 1000 + 20);
  }

  /** From decoded audio back to an element (gapless switched off mid-song). */
  #handBack() {
    const { index } = this.#source;
    const position = this.currentTime;
    const playing = this.playing;
    this.#stopDecoded();
    const audio = this.audio;
    audio.src = playUrl(this.queue[index], this.quality);
    audio.dataset.songId = this.queue[index].id;
    audio.addEventListener('loadedmetadata', () => (audio.currentTime = position), { once: true });
    this.#applyGains();
    if (playing) this.play();
  }

  /** The crossfade from the current song into queue entry `nextIndex`: none within an album in order. */
  #fadeInto(nextIndex) {
    if (!this.crossfade || nextIndex === this.index) return 0;
    if (nextIndex === this.index + 1 && continuesAlbum(this.queue[this.index], this.queue[nextIndex])) return 0;
    return this.crossfade;
  }

  /** Schedules the next song on the audio clock once it is decoded; undoes a schedule the queue made stale. */
  #reschedule() {
    if (!this.#source || this.#ended) return;
    const nextIndex = this.#nextIndex();
    const next = nextIndex >= 0 ? this.queue[nextIndex] : null;
    const url = next ? playUrl(next, this.quality) : null;
    const fadeSet = this.#fadeInto(nextIndex);
    const upcoming = this.#upcoming;
    if (upcoming && upcoming.index === nextIndex && upcoming.url === url && upcoming.fadeSet === fadeSet) return;
    const current = this.#source;
    if (upcoming) {
      if (this.#graph.context.currentTime >= upcoming.startAt) return; // already sounding: let it be
      PlayerStore.#release(upcoming);
      this.#upcoming = null;
      current.gain.gain.cancelScheduledValues(0);
      current.gain.gain.value = this.gainFor(current.index);
    }
    const buffer = url ? this.#decoded?.ready(url) : null;
    if (!buffer) return;
    const endsAt = current.startedAt + (current.buffer.duration - current.offset);
    const fade = Math.min(fadeSet, current.buffer.duration / 2, buffer.duration / 2);
    const startAt = endsAt - fade;
    if (startAt <= this.#graph.context.currentTime + 0.02) return; // too late to be exact: the plain path takes it
    const level = this.gainFor(nextIndex);
    const voice = this.#voice(buffer, fade ? 0 : level);
    if (fade) {
      const { out, into } = equalPowerCurves(256);
      current.gain.gain.setValueCurveAtTime(out.map((v) => v * this.gainFor(current.index)), startAt, fade);
      voice.gain.gain.setValueCurveAtTime(into.map((v) => v * level), startAt, fade);
    }
    voice.node.start(startAt);
    this.#upcoming = { ...voice, index: nextIndex, id: next.id, url, buffer, startAt, fade, fadeSet };
  }

  /** While decoded audio plays: positions for the page, the move to the next song at its start, the end. */
  #startTicker() {
    if (!this.#ticker) this.#ticker = setInterval(() => this.#tick(), 100);
  }

  #tick() {
    const source = this.#source;
    if (!source) return;
    const now = this.#graph.context.currentTime;
    const upcoming = this.#upcoming;
    if (upcoming && now >= upcoming.startAt) {
      this.#advance(upcoming);
      return;
    }
    const endsAt = source.startedAt + (source.buffer.duration - source.offset);
    if (!upcoming && now >= endsAt && !this.#ended) {
      // Nothing decoded to follow: the end of the queue, or a next song that plays from an element.
      const nextIndex = this.#nextIndex();
      if (nextIndex < 0) {
        this.#ended = true;
        this.#onState();
        return;
      }
      this.#load(nextIndex, true);
      return;
    }
    if (this.playing) this.#onTime();
  }

  /** The scheduled song has started: it is the current song now (the previous one fades out by itself). */
  #advance(upcoming) {
    const previous = this.#source;
    this.seams.push({ at: upcoming.startAt, from: previous.id, to: upcoming.id, fade: upcoming.fade });
    if (this.seams.length > 20) this.seams.shift();
    const left = previous.startedAt + (previous.buffer.duration - previous.offset) - this.#graph.context.currentTime;
    setTimeout(() => {
      previous.node.disconnect();
      previous.gain.disconnect();
    }, Math.max(0, left) * 1000 + 200);
    this.#source = { ...upcoming, startedAt: upcoming.startAt, offset: 0, fadeUntil: upcoming.startAt + upcoming.fade };
    this.#upcoming = null;
    this.index = upcoming.index;
    this.#listened = 0;
    this.#reported = false;
    this.#lastTime = 0;
    this.#emit('track');
    this.#emit('queue');
    this.#onState();
    this.#updateMediaSession();
    this.#scheduleSave();
    this.#preloadNext();
    this.#decodeAhead();
    this.#reschedule();
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
      gapless: this.gapless,
      crossfade: this.crossfade,
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
    this.gapless = state.gapless !== false;
    this.crossfade = CROSSFADES.includes(state.crossfade) ? state.crossfade : 0;
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
