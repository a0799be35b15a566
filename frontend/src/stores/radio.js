// Song radio (#22): a queue that keeps extending itself with songs that sound close to a seed (a song, album,
// artist or playlist). The server keeps the session (POST /api/radio, then /api/radio/{id}/next), so it never
// hands out a song twice; this store tells it which of its songs were played through (at least half heard) and
// which were skipped, and asks for more while fewer than LOW_WATER songs are left after the current one.
// Playing something else (a queue without any of the radio's songs) ends the radio.
import { api } from '../api.js';
import { player } from './player.js';

const BATCH = 10;
const LOW_WATER = 3;

class RadioStore extends EventTarget {
  /** { id, label } while a radio runs. */
  session = null;
  #ours = new Set();
  #feedback = { played: [], skipped: [] };
  /** Where the song playing is: what the feedback for it is judged on when the next one starts. */
  #position = null;
  #asking = null;

  constructor() {
    super();
    player.addEventListener('time', () => {
      const song = player.song;
      if (song) this.#position = { id: song.id, time: player.currentTime, duration: player.duration };
    });
    player.addEventListener('track', () => this.#onTrack());
  }

  get active() {
    return this.session !== null;
  }

  /** Starts a radio and plays it; with `first` (the seed song) that song plays first. */
  async start(seed, label, first = null) {
    const radio = await api.post('/api/radio', { seed, limit: BATCH });
    const songs = first ? [first, ...radio.songs] : radio.songs;
    if (!radio.songs.length) {
      api.delete(`/api/radio/${radio.id}`).catch(() => {});
      throw new Error('Nothing sounds close enough yet: songs may still be being analysed.');
    }
    this.stop();
    this.session = { id: radio.id, label };
    this.#ours = new Set(songs.map((s) => s.id));
    this.#feedback = { played: [], skipped: [] };
    this.#position = null;
    player.playSongs(songs);
    this.#emit();
    return radio;
  }

  stop() {
    if (!this.session) return;
    const { id } = this.session;
    this.session = null;
    this.#ours = new Set();
    api.delete(`/api/radio/${id}`).catch(() => {});
    this.#emit();
  }

  #onTrack() {
    if (!this.session) return;
    const last = this.#position;
    const song = player.song;
    if (last && last.id !== song?.id && this.#ours.has(last.id)) {
      const through = last.duration > 0 && last.time >= last.duration * 0.5;
      (through ? this.#feedback.played : this.#feedback.skipped).push(last.id);
      this.#position = null;
    }
    if (!song || !player.queue.some((s) => this.#ours.has(s.id))) return this.stop();
    if (player.queue.length - player.index - 1 < LOW_WATER) this.#more();
  }

  #more() {
    if (this.#asking || !this.session) return;
    const { id } = this.session;
    const feedback = this.#feedback;
    this.#feedback = { played: [], skipped: [] };
    this.#asking = api
      .post(`/api/radio/${id}/next`, { played: feedback.played.slice(-100), skipped: feedback.skipped.slice(-100), limit: BATCH })
      .then((radio) => {
        if (this.session?.id !== id) return;
        for (const s of radio.songs) this.#ours.add(s.id);
        if (radio.songs.length) player.enqueue(radio.songs);
        this.#emit();
      })
      .catch((error) => {
        // The session is gone (ended elsewhere, or pushed out by ten newer ones): the radio stops here too.
        if (error.status === 404) this.stop();
      })
      .finally(() => {
        this.#asking = null;
      });
  }

  #emit() {
    this.dispatchEvent(new Event('change'));
  }
}

export const radio = new RadioStore();
