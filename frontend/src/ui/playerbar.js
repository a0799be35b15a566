// The player bar: transport, a seek bar that draws the song's waveform peaks, times, volume, modes, and the
// buttons that open the queue, the now-playing view and the shortcut help.
import { icon, setIcon } from './icons.js';
import { api } from '../api.js';
import { h, formatTime, cover, replace } from '../dom.js';
import { player } from '../stores/player.js';
import { radio } from '../stores/radio.js';
import { serverEvents } from '../stores/events.js';
import { announce, toast } from './feedback.js';
import { from, pulse } from './motion.js';

const REPEAT_LABEL = { off: 'Repeat: off', all: 'Repeat: all', one: 'Repeat: one' };
const peaksCache = new Map();

async function peaksOf(song) {
  if (peaksCache.has(song.id)) return peaksCache.get(song.id);
  let peaks = null;
  try {
    peaks = (await api.get(`/api/music/songs/${song.id}/peaks`)).peaks;
  } catch {
    peaks = null; // not analysed yet: a plain bar
  }
  if (peaksCache.size > 50) peaksCache.delete(peaksCache.keys().next().value);
  peaksCache.set(song.id, peaks);
  return peaks;
}

export function mountPlayerBar(root, { toggleQueue, toggleNowPlaying, toggleHelp }) {
  const art = h('button', { type: 'button', class: 'art', 'aria-label': 'Now playing', dataset: { nowPlayingOpen: '' }, onclick: toggleNowPlaying });
  const title = h('span', { class: 'title', dataset: { playerTitle: '' } });
  const artist = h('span', { class: 'sub', dataset: { playerArtist: '' } });
  const playButton = h('button', { type: 'button', class: 'icon-button big', dataset: { playPause: '' }, 'aria-label': 'Play', onclick: () => player.toggle() }, icon('play'));
  const shuffle = h('button', { type: 'button', class: 'icon-button', dataset: { shuffle: '' }, 'aria-label': 'Shuffle', 'aria-pressed': 'false', onclick: () => player.toggleShuffle() }, icon('shuffle'));
  const repeat = h('button', { type: 'button', class: 'icon-button', dataset: { repeat: '' }, 'aria-label': REPEAT_LABEL.off, onclick: () => player.cycleRepeat() }, icon('repeat'), h('span', { class: 'badge', dataset: { repeatOne: '' }, hidden: true }, '1'));
  const elapsed = h('span', { class: 'time', dataset: { elapsed: '' } }, '0:00');
  const remaining = h('span', { class: 'time', dataset: { remaining: '' } }, '-0:00');
  const canvas = h('canvas', { class: 'wave', height: 40 });
  const seek = h('input', { type: 'range', class: 'seek', min: 0, max: 1000, step: 1, value: 0, 'aria-label': 'Seek', dataset: { seek: '' } });
  const mute = h('button', { type: 'button', class: 'icon-button', dataset: { mute: '' }, 'aria-label': 'Mute', 'aria-pressed': 'false', onclick: () => player.toggleMute() }, icon('volume'));
  const volume = h('input', { type: 'range', class: 'volume', min: 0, max: 100, step: 1, 'aria-label': 'Volume', dataset: { volume: '' } });
  const normalise = h('button', { type: 'button', class: 'icon-button small-text', dataset: { normalise: '' }, 'aria-label': 'Loudness normalisation', 'aria-pressed': 'true', onclick: () => player.setNormalise(!player.normalise) }, 'LN');

  // While a radio plays, the queue extends itself: the chip says so and ends it.
  const radioChip = h('button', { type: 'button', class: 'chip', hidden: true, dataset: { radio: '' }, onclick: () => radio.stop() });
  radio.addEventListener('change', () => {
    radioChip.hidden = !radio.active;
    radioChip.textContent = radio.active ? `Radio: ${radio.session.label} ✕` : '';
    radioChip.setAttribute('aria-label', radio.active ? `Stop the radio from ${radio.session.label}` : 'Radio');
  });

  replace(root,
    h('div', { class: 'now' }, art, h('div', { class: 'meta' }, title, artist)),
    h('div', { class: 'center' },
      h('div', { class: 'transport' },
        shuffle,
        h('button', { type: 'button', class: 'icon-button', dataset: { previous: '' }, 'aria-label': 'Previous', onclick: () => player.previous() }, icon('previous')),
        playButton,
        h('button', { type: 'button', class: 'icon-button', dataset: { next: '' }, 'aria-label': 'Next', onclick: () => player.next() }, icon('next')),
        repeat),
      h('div', { class: 'progress' }, elapsed, h('div', { class: 'seek-wrap' }, canvas, seek), remaining)),
    h('div', { class: 'side' },
      radioChip,
      mute, volume, normalise,
      h('button', { type: 'button', class: 'icon-button', dataset: { queueOpen: '' }, 'aria-label': 'Queue', onclick: toggleQueue }, icon('queue')),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Keyboard shortcuts', onclick: toggleHelp }, icon('help'))),
  );

  let peaks = null;
  let seeking = false;

  function drawWave() {
    const width = canvas.clientWidth;
    if (!width) return;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(40 * ratio);
    }
    const ctx = canvas.getContext('2d');
    const { width: w, height: hgt } = canvas;
    ctx.clearRect(0, 0, w, hgt);
    const played = player.duration ? player.currentTime / player.duration : 0;
    const styles = getComputedStyle(root);
    const done = styles.getPropertyValue('--accent').trim() || '#f5b94a';
    const todo = styles.getPropertyValue('--muted').trim() || '#666';
    if (!peaks?.length) {
      ctx.fillStyle = todo;
      ctx.fillRect(0, hgt / 2 - ratio, w, 2 * ratio);
      ctx.fillStyle = done;
      ctx.fillRect(0, hgt / 2 - ratio, w * played, 2 * ratio);
      return;
    }
    const bars = Math.min(peaks.length, Math.floor(w / (3 * ratio)));
    const bw = w / bars;
    for (let b = 0; b < bars; b++) {
      const value = peaks[Math.floor((b / bars) * peaks.length)] / 255;
      const bh = Math.max(ratio, value * hgt * 0.9);
      ctx.fillStyle = b / bars < played ? done : todo;
      ctx.fillRect(b * bw, (hgt - bh) / 2, Math.max(ratio, bw - ratio), bh);
    }
  }

  function onTime() {
    const d = player.duration;
    const t = player.currentTime;
    // Hooks for inspection and the end-to-end tests: where playback is, and from what.
    root.dataset.position = t.toFixed(2);
    elapsed.textContent = formatTime(t);
    remaining.textContent = `-${formatTime(Math.max(0, d - t))}`;
    if (!seeking) seek.value = d ? Math.round((t / d) * 1000) : 0;
    seek.setAttribute('aria-valuetext', `${formatTime(t)} of ${formatTime(d)}`);
    drawWave();
  }

  async function onTrack() {
    const song = player.song;
    root.hidden = !song;
    document.body.classList.toggle('has-player', !!song);
    if (!song) return;
    replace(art, cover(song.cover_url, 64, ''));
    title.textContent = song.title;
    artist.textContent = `${song.artist.name} — ${song.album.name}`;
    document.title = `${song.title} · ${song.artist.name} · Fermata`;
    from([art, title, artist], { y: 12, opacity: 0, stagger: 0.05 });
    announce(`Now playing: ${song.title} by ${song.artist.name}`);
    peaks = null;
    onTime();
    const id = song.id;
    const found = await peaksOf(song);
    if (player.song?.id === id) {
      peaks = found;
      drawWave();
    }
  }

  function onState() {
    const playing = player.playing;
    root.dataset.state = playing ? 'playing' : 'paused';
    root.dataset.source = player.decoded ? 'decoded' : 'element';
    root.dataset.decodedBytes = String(player.decodedBytes);
    setIcon(playButton, playing ? 'pause' : 'play');
    playButton.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    pulse(playButton);
  }

  function onQueue() {
    shuffle.setAttribute('aria-pressed', String(player.shuffle));
    repeat.setAttribute('aria-label', REPEAT_LABEL[player.repeat]);
    repeat.dataset.mode = player.repeat;
    repeat.querySelector('[data-repeat-one]').hidden = player.repeat !== 'one';
    normalise.setAttribute('aria-pressed', String(player.normalise));
  }

  function onVolume() {
    volume.value = Math.round(player.volume * 100);
    mute.setAttribute('aria-pressed', String(player.muted));
    setIcon(mute, player.muted || player.volume === 0 ? 'muted' : 'volume');
  }

  seek.addEventListener('input', () => {
    seeking = true;
    elapsed.textContent = formatTime((seek.value / 1000) * player.duration);
  });
  seek.addEventListener('change', () => {
    seeking = false;
    player.seek((seek.value / 1000) * player.duration);
  });
  canvas.addEventListener('click', (event) => {
    const r = canvas.getBoundingClientRect();
    player.seek(((event.clientX - r.left) / r.width) * player.duration);
  });
  volume.addEventListener('input', () => player.setVolume(volume.value / 100));

  player.addEventListener('time', onTime);
  player.addEventListener('track', onTrack);
  player.addEventListener('state', onState);
  player.addEventListener('queue', onQueue);
  player.addEventListener('volume', onVolume);
  player.addEventListener('error', () => player.song && toast(`"${player.song.title}" cannot be played.`, 'error'));
  serverEvents.addEventListener('analysis.done', (e) => {
    peaksCache.delete(e.detail.song_id);
    if (player.song?.id === e.detail.song_id) onTrack();
  });
  new ResizeObserver(drawWave).observe(canvas);
  onTrack();
  onState();
  onQueue();
  onVolume();
}
