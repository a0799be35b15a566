// Playlists: the list (own and public), create, import M3U8; a playlist page with rename, public, delete,
// export, play, drag-to-reorder (and move buttons for keyboards), remove.
import { api, request } from '../api.js';
import { h, replace, formatTime, cover } from '../dom.js';
import { navigate } from '../router.js';
import { player } from '../stores/player.js';
import { playlists } from '../stores/playlists.js';
import { session } from '../stores/session.js';
import { showFieldErrors, toast } from '../ui/feedback.js';
import { icon } from '../ui/icons.js';
import { startRadio } from '../ui/songmenu.js';
import { from } from '../ui/motion.js';
import { loading, main } from './library.js';

export async function playlistsView() {
  const items = await loading(() => playlists.load(true), playlistsView);
  if (!items) return null;
  const create = h('form', { class: 'inline-form', novalidate: true, dataset: { createPlaylist: '' } },
    h('label', { for: 'new-playlist' }, 'New playlist'),
    h('input', { id: 'new-playlist', name: 'name', type: 'text', required: true, maxlength: 100, placeholder: 'Name' }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create'),
    h('span', { class: 'field-error', dataset: { fieldError: 'name' } }),
    h('span', { class: 'form-error', dataset: { formError: '' } }));
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const playlist = await api.post('/api/playlists', { name: create.elements.name.value, public: false });
      playlists.load(true);
      navigate(`/playlists/${playlist.id}`);
    } catch (error) {
      showFieldErrors(create, error);
    }
  });
  const importInput = h('input', { type: 'file', accept: '.m3u,.m3u8,audio/x-mpegurl', dataset: { importFile: '' }, 'aria-label': 'Import an M3U8 playlist' });
  importInput.addEventListener('change', async () => {
    const file = importInput.files[0];
    if (!file) return;
    try {
      const name = file.name.replace(/\.m3u8?$/i, '').slice(0, 100) || undefined;
      const result = await request('POST', `/api/playlists/import?${new URLSearchParams({ name })}`, { body: await file.text(), headers: { 'Content-Type': 'audio/x-mpegurl' } });
      toast(result.unmatched.length ? `Imported; ${result.unmatched.length} lines matched no song` : 'Imported');
      playlists.load(true);
      navigate(`/playlists/${result.playlist.id}`);
    } catch (error) {
      toast(error.message, 'error');
    }
  });
  const list = h('ul', { class: 'playlist-list', dataset: { playlists: '' } },
    items.map((p) => h('li', {},
      h('a', { href: `/playlists/${p.id}`, 'data-link': true }, cover(p.cover_url, 64, ''), h('span', { class: 'title' }, p.name)),
      h('span', { class: 'sub' }, `${p.song_count} songs · ${formatTime(p.duration)}${p.public ? ' · public' : ''}${p.owner.id === session.user?.id ? '' : ` · by ${p.owner.name}`}`))));
  if (!items.length) list.append(h('li', { class: 'empty' }, 'No playlists yet.'));
  replace(main(), h('div', { class: 'view' },
    h('div', { class: 'view-header' }, h('h1', {}, 'Playlists'), create, h('label', { class: 'button' }, 'Import M3U8… ', importInput)),
    list));
  from(list.children, { y: 8, opacity: 0, stagger: 0.02 });
  return null;
}

/** The playlist with all its entries: the first page comes with it, the rest page by page. */
async function loadPlaylist(id) {
  const detail = await api.get(`/api/playlists/${encodeURIComponent(id)}`);
  let cursor = detail.entries_next_cursor;
  while (cursor) {
    const page = await api.get(`/api/playlists/${encodeURIComponent(id)}/entries`, { limit: 500, cursor });
    detail.entries.push(...page.items);
    cursor = page.next_cursor;
  }
  return detail;
}

export async function playlistView(id) {
  const rerender = () => playlistView(id);
  let detail = await loading(() => loadPlaylist(id), rerender);
  if (!detail) return null;
  const mine = detail.owner.id === session.user?.id;
  const entries = h('ol', { class: 'entries', dataset: { entries: '' } });
  const status = h('span', { class: 'sub', role: 'status', dataset: { saveState: '' } });
  let dragFrom = null;

  // Writes answer with the playlist's summary; the entries are read again after each.
  const change = async (action) => {
    try {
      await action();
      detail = await loadPlaylist(id);
      draw();
      playlists.load(true);
    } catch (error) {
      toast(error.message, 'error');
      rerender();
    }
  };

  function draw() {
    replace(entries, detail.entries.map((entry, i) =>
      h('li', { draggable: mine ? 'true' : false, dataset: { entryId: entry.id, position: i }, class: player.song?.id === entry.song.id ? 'current' : '' },
        mine ? h('span', { class: 'handle', 'aria-hidden': 'true' }, icon('drag')) : null,
        h('button', { type: 'button', class: 'icon-button', 'aria-label': `Play ${entry.song.title}`, dataset: { entryPlay: '' } }, icon('play')),
        h('span', { class: 'title-cell' }, h('span', { class: 'title' }, entry.song.title), h('span', { class: 'sub' }, `${entry.song.artist.name} · ${entry.song.album.name}`)),
        h('span', { class: 'duration' }, formatTime(entry.song.duration)),
        mine ? [
          h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${entry.song.title} up`, dataset: { entryUp: '' }, disabled: i === 0 }, icon('up')),
          h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${entry.song.title} down`, dataset: { entryDown: '' }, disabled: i === detail.entries.length - 1 }, icon('down')),
          h('button', { type: 'button', class: 'icon-button', 'aria-label': `Remove ${entry.song.title}`, dataset: { entryRemove: '' } }, icon('close')),
        ] : null)));
    if (!detail.entries.length) entries.append(h('li', { class: 'empty' }, 'Add songs from any song’s ⋯ menu.'));
  }

  const move = (entryId, position) => change(() => api.post(`/api/playlists/${id}/entries/${entryId}/move`, { position }));
  entries.addEventListener('click', (event) => {
    const li = event.target.closest('[data-entry-id]');
    if (!li) return;
    const i = Number(li.dataset.position);
    if (event.target.closest('[data-entry-play]')) player.playSongs(detail.entries.map((e) => e.song), i);
    else if (event.target.closest('[data-entry-up]')) move(li.dataset.entryId, i - 1);
    else if (event.target.closest('[data-entry-down]')) move(li.dataset.entryId, i + 1);
    else if (event.target.closest('[data-entry-remove]')) change(() => api.delete(`/api/playlists/${id}/entries/${li.dataset.entryId}`));
  });
  entries.addEventListener('dragstart', (event) => {
    dragFrom = event.target.closest('[data-entry-id]');
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', dragFrom?.dataset.entryId ?? '');
  });
  entries.addEventListener('dragover', (event) => {
    if (dragFrom) event.preventDefault();
  });
  entries.addEventListener('drop', (event) => {
    event.preventDefault();
    const target = event.target.closest('[data-entry-id]');
    if (dragFrom && target && target !== dragFrom) move(dragFrom.dataset.entryId, Number(target.dataset.position));
    dragFrom = null;
  });

  const name = mine
    ? h('input', { class: 'title-input', value: detail.name, maxlength: 100, 'aria-label': 'Playlist name', dataset: { playlistName: '' } })
    : h('h1', {}, detail.name);
  if (mine) {
    name.addEventListener('change', async () => {
      try {
        detail = { ...detail, ...(await api.patch(`/api/playlists/${id}`, { name: name.value })) };
        status.textContent = 'Saved';
        playlists.load(true);
      } catch (error) {
        status.textContent = error.fields?.name?.join(', ') ?? error.message;
        name.value = detail.name;
      }
    });
  }
  const publicToggle = mine
    ? h('label', {}, h('input', { type: 'checkbox', checked: detail.public, dataset: { playlistPublic: '' }, onchange: (e) => api.patch(`/api/playlists/${id}`, { public: e.target.checked }).then(() => (status.textContent = e.target.checked ? 'Public' : 'Private')).catch((err) => toast(err.message, 'error')) }), ' Public')
    : null;
  replace(main(), h('div', { class: 'view' },
    h('div', { class: 'view-header' },
      name,
      h('p', { class: 'sub' }, `by ${detail.owner.name}`, detail.description ? ` — ${detail.description}` : ''),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'button primary', dataset: { playlistPlay: '' }, onclick: () => player.playSongs(detail.entries.map((e) => e.song)) }, '▶ Play'),
        h('button', { type: 'button', class: 'button', dataset: { startRadio: '' }, onclick: () => startRadio({ playlist: id }, detail.name) }, 'Start radio'),
        h('a', { class: 'button', href: `/api/playlists/${id}/export.m3u8`, download: `${detail.name}.m3u8`, dataset: { playlistExport: '' } }, 'Export M3U8'),
        publicToggle,
        mine || session.isAdmin ? h('button', { type: 'button', class: 'button danger', dataset: { playlistDelete: '' }, onclick: async () => {
          if (!confirm(`Delete the playlist "${detail.name}"?`)) return;
          try {
            await api.delete(`/api/playlists/${id}`);
            playlists.load(true);
            navigate('/playlists');
          } catch (error) {
            toast(error.message, 'error');
          }
        } }, 'Delete') : null,
        status)),
    entries));
  draw();
  return null;
}

