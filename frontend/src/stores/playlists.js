// The signed-in user's playlists, for "add to playlist" menus. Refreshed after any change.
import { api } from '../api.js';
import { session } from './session.js';

class PlaylistStore extends EventTarget {
  items = [];
  #loaded = null;

  /** Own playlists (the ones songs can be added to). */
  get own() {
    return this.items.filter((p) => p.owner.id === session.user?.id);
  }

  load(force = false) {
    if (!this.#loaded || force) {
      this.#loaded = api.get('/api/playlists', { limit: 500 }).then((page) => {
        this.items = page.items ?? page;
        this.dispatchEvent(new Event('change'));
        return this.items;
      });
      this.#loaded.catch(() => (this.#loaded = null));
    }
    return this.#loaded;
  }

  async create(name) {
    const playlist = await api.post('/api/playlists', { name, public: false });
    await this.load(true);
    return playlist;
  }

  async add(playlistId, songIds) {
    const result = await api.post(`/api/playlists/${playlistId}/entries`, { song_ids: songIds });
    this.load(true);
    return result;
  }

  reset() {
    this.items = [];
    this.#loaded = null;
  }
}

export const playlists = new PlaylistStore();
