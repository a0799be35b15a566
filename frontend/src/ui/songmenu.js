// The menu behind a song's "⋯" button (and the selection bar): play, play next, add to queue, add to a
// playlist, favourite, radio from the song, its similar songs, and for admins the tag editor.
import { api } from '../api.js';
import { h } from '../dom.js';
import { navigate } from '../router.js';
import { player } from '../stores/player.js';
import { playlists } from '../stores/playlists.js';
import { radio } from '../stores/radio.js';
import { session } from '../stores/session.js';
import { toast } from './feedback.js';

let open = null;

export function closeMenu() {
  if (!open) return;
  const { menu, opener } = open;
  open = null;
  menu.remove();
  opener?.focus();
}

document.addEventListener('keydown', (e) => e.key === 'Escape' && open && closeMenu());
document.addEventListener('pointerdown', (e) => open && !open.menu.contains(e.target) && closeMenu(), true);

function place(menu, opener) {
  document.body.append(menu);
  const r = opener.getBoundingClientRect();
  const m = menu.getBoundingClientRect();
  const top = r.bottom + m.height > innerHeight - 8 ? Math.max(8, r.top - m.height) : r.bottom;
  menu.style.top = `${top}px`;
  menu.style.left = `${Math.max(8, Math.min(r.right - m.width, innerWidth - m.width - 8))}px`;
  menu.querySelector('button')?.focus();
}

function item(label, action) {
  return h('button', { type: 'button', role: 'menuitem', class: 'menu-item', onclick: async () => {
    closeMenu();
    try {
      await action();
    } catch (error) {
      toast(error.message, 'error');
    }
  } }, label);
}

/** Adds songs to a playlist chosen from a second menu (or a new one). */
export async function choosePlaylist(opener, songs) {
  await playlists.load();
  const menu = h('div', { class: 'menu', role: 'menu', 'aria-label': 'Add to playlist' });
  for (const p of playlists.own) {
    menu.append(item(p.name, async () => {
      await playlists.add(p.id, songs.map((s) => s.id));
      toast(`Added ${songs.length === 1 ? `"${songs[0].title}"` : `${songs.length} songs`} to ${p.name}`);
    }));
  }
  menu.append(item('New playlist…', async () => {
    const name = prompt('Name of the new playlist');
    if (!name?.trim()) return;
    const p = await playlists.create(name.trim());
    await playlists.add(p.id, songs.map((s) => s.id));
    toast(`Added to ${p.name}`);
  }));
  closeMenu();
  open = { menu, opener };
  place(menu, opener);
}

/** Starts a radio from a seed and says so (or why it cannot start). */
export async function startRadio(seed, label, first = null) {
  try {
    await radio.start(seed, label, first);
    toast(`Radio: ${label}`);
  } catch (error) {
    toast(error.code === 'not_analysed' ? 'Not analysed yet: try again in a moment.' : error.message, 'error');
  }
}

export async function setFavourite(song, on) {
  await (on ? api.put(`/api/music/songs/${song.id}/favourite`) : api.delete(`/api/music/songs/${song.id}/favourite`));
  song.favourite = on;
}

export function songMenu(opener, song, { onChange } = {}) {
  const wasOpen = open?.opener === opener;
  closeMenu();
  if (wasOpen) return;
  const menu = h('div', { class: 'menu', role: 'menu', 'aria-label': `Actions for ${song.title}` },
    item('Play', () => player.playSongs([song])),
    item('Play next', () => (player.playNext([song]), toast(`"${song.title}" plays next`))),
    item('Add to queue', () => (player.enqueue([song]), toast(`"${song.title}" added to the queue`))),
    h('button', { type: 'button', role: 'menuitem', class: 'menu-item', onclick: () => choosePlaylist(opener, [song]) }, 'Add to playlist…'),
    item(song.favourite ? 'Remove from favourites' : 'Add to favourites', async () => {
      await setFavourite(song, !song.favourite);
      onChange?.();
    }),
    item('Start radio', () => startRadio({ song: song.id }, song.title, song)),
    h('a', { role: 'menuitem', class: 'menu-item', href: `/songs/${song.id}`, 'data-link': true, dataset: { similarSongs: '' }, onclick: closeMenu }, 'Similar songs'),
    h('a', { role: 'menuitem', class: 'menu-item', href: `/albums/${song.album.id}`, 'data-link': true, onclick: closeMenu }, 'Go to album'),
    h('a', { role: 'menuitem', class: 'menu-item', href: `/artists/${song.artist.id}`, 'data-link': true, onclick: closeMenu }, 'Go to artist'),
    session.isAdmin && item('Edit tags', () => navigate(`/admin/songs/${song.id}`)),
  );
  open = { menu, opener };
  place(menu, opener);
}
