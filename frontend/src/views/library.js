// Browsing: songs (search as you type, sort, filters), albums, artists, genres, charts, favourites, history.
import { api } from '../api.js';
import { h, replace, cover, formatTime, debounce } from '../dom.js';
import { navigate } from '../router.js';
import { player } from '../stores/player.js';
import { session } from '../stores/session.js';
import { errorBox } from '../ui/feedback.js';
import { from } from '../ui/motion.js';
import { songList } from '../ui/songlist.js';
import { startRadio } from '../ui/songmenu.js';

export const main = () => document.querySelector('[data-main]');

/** Loads data for a view; on failure shows the error with a retry that renders the view again. */
export async function loading(load, rerender) {
  replace(main(), h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    return await load();
  } catch (error) {
    replace(main(), errorBox(error, rerender));
    return null;
  }
}

function mountList(header, list) {
  replace(main(), h('div', { class: 'view-fill' }, header, list.element));
  from(header, { y: 10, opacity: 0 });
  return () => list.destroy();
}

const SORTS = [['title', 'Title'], ['artist', 'Artist'], ['album', 'Album'], ['added', 'Recently added'], ['plays', 'Most played'], ['duration', 'Duration']];

export function songsView(params) {
  const query = Object.fromEntries(['q', 'artist', 'album', 'genre', 'year', 'bpm_min', 'bpm_max', 'key', 'sort', 'order'].map((k) => [k, params.get(k) ?? '']));
  const search = document.querySelector('[data-search]');
  if (search && document.activeElement !== search) search.value = query.q;
  const setParam = (key, value) => {
    const next = new URLSearchParams(location.search);
    if (value) next.set(key, value);
    else next.delete(key);
    navigate(`/?${next}`, { replace: true });
  };
  const filters = ['artist', 'album', 'genre', 'year', 'bpm_min', 'bpm_max', 'key'].filter((k) => query[k]);
  const header = h('div', { class: 'view-header' },
    h('h1', {}, query.q ? `Songs matching “${query.q}”` : 'Songs'),
    h('div', { class: 'toolbar' },
      h('label', {}, 'Sort ',
        h('select', { dataset: { sort: '' }, onchange: (e) => setParam('sort', e.target.value) },
          SORTS.map(([value, label]) => h('option', { value, selected: (query.sort || 'title') === value }, label)))),
      h('button', { type: 'button', class: 'button', dataset: { order: '' }, 'aria-label': query.order === 'desc' ? 'Descending' : 'Ascending', onclick: () => setParam('order', query.order === 'desc' ? '' : 'desc') }, query.order === 'desc' ? '↓ Desc' : '↑ Asc'),
      h('label', {}, 'Genre ', h('input', { type: 'text', size: 10, value: query.genre, dataset: { genreFilter: '' }, onchange: (e) => setParam('genre', e.target.value.trim()) })),
      h('label', {}, 'Year ', h('input', { type: 'number', min: 0, max: 9999, value: query.year, dataset: { yearFilter: '' }, onchange: (e) => setParam('year', e.target.value) })),
      h('label', {}, 'BPM ',
        h('input', { type: 'number', min: 0, max: 1000, size: 4, value: query.bpm_min, 'aria-label': 'Slowest tempo', dataset: { bpmMin: '' }, onchange: (e) => setParam('bpm_min', e.target.value) }),
        '–',
        h('input', { type: 'number', min: 0, max: 1000, size: 4, value: query.bpm_max, 'aria-label': 'Fastest tempo', dataset: { bpmMax: '' }, onchange: (e) => setParam('bpm_max', e.target.value) })),
      h('label', {}, 'Key ', h('input', { type: 'text', size: 6, value: query.key, placeholder: 'Am, 8A', dataset: { keyFilter: '' }, onchange: (e) => setParam('key', e.target.value.trim()) })),
      filters.map((k) => h('button', { type: 'button', class: 'chip', 'aria-label': `Remove filter ${k}`, onclick: () => setParam(k, '') }, `${k}: ${query[k]} ✕`))),
    query.q ? h('div', { class: 'search-extras', dataset: { searchExtras: '' } }) : null);
  const list = songList({
    label: 'Songs',
    empty: query.q ? 'No songs match. Try fewer or different words.' : emptyLibrary(),
    load: (cursor) => api.get('/api/music/songs', { ...query, limit: 200, cursor }),
  });
  if (query.q) {
    api.get('/api/search', { q: query.q, limit: 6 }).then((found) => {
      const extras = header.querySelector('[data-search-extras]');
      if (!extras) return;
      replace(extras,
        found.artists.length ? h('p', {}, 'Artists: ', found.artists.map((a, i) => [i ? ', ' : '', h('a', { href: `/artists/${a.id}`, 'data-link': true }, a.name)])) : null,
        found.albums.length ? h('p', {}, 'Albums: ', found.albums.map((a, i) => [i ? ', ' : '', h('a', { href: `/albums/${a.id}`, 'data-link': true }, a.title)])) : null);
    }).catch(() => {});
  }
  return mountList(header, list);
}

/** An empty library, in the middle of the page: an admin gets the two ways in, a listener is told who adds music. */
function emptyLibrary() {
  const ways = session.isAdmin
    ? [h('p', {}, 'Add music in either of two ways.'),
      h('div', { class: 'actions' },
        h('a', { class: 'button primary', href: '/admin/upload', 'data-link': true, dataset: { emptyUpload: '' } }, 'Upload songs'),
        h('a', { class: 'button', href: '/admin/scan', 'data-link': true, dataset: { emptyScan: '' } }, 'Scan the library folder'))]
    : [h('p', {}, 'An admin adds music by uploading songs or scanning the music folder.')];
  return h('div', { class: 'empty-state', dataset: { emptyLibrary: '' } }, h('h2', {}, 'The library is empty'), ...ways);
}

/** Search as you type: the top bar's box drives the songs view's `q`. */
export function wireSearch(input) {
  const go = debounce(() => {
    const q = input.value.trim();
    const onSongs = location.pathname === '/';
    const next = new URLSearchParams(onSongs ? location.search : '');
    if (q) next.set('q', q);
    else next.delete('q');
    navigate(`/?${next}`, { replace: onSongs });
  }, 250);
  input.addEventListener('input', go);
  input.form.addEventListener('submit', (e) => {
    e.preventDefault();
    go();
  });
}

function pagedGrid(title, load, card) {
  const grid = h('div', { class: 'grid', dataset: { grid: '' } });
  const sentinel = h('div', { class: 'sentinel', role: 'status' });
  let cursor = null;
  let busy = false;
  let done = false;
  async function more() {
    if (busy || done) return;
    busy = true;
    sentinel.textContent = 'Loading…';
    try {
      const page = await load(cursor);
      grid.append(...page.items.map(card));
      cursor = page.next_cursor ?? page.next_offset ?? null;
      done = cursor === null;
      sentinel.textContent = !done ? '' : grid.childElementCount ? '' : 'Nothing here yet.';
    } catch (error) {
      sentinel.replaceChildren(errorBox(error, () => ((busy = false), more())));
      return;
    }
    busy = false;
    if (!done && sentinel.getBoundingClientRect().top < innerHeight + 400) more();
  }
  const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && more(), { rootMargin: '400px' });
  replace(main(), h('div', { class: 'view' }, h('div', { class: 'view-header' }, h('h1', {}, title)), grid, sentinel));
  observer.observe(sentinel);
  more();
  return () => observer.disconnect();
}

const albumCard = (album) =>
  h('a', { class: 'album-card', href: `/albums/${album.id}`, 'data-link': true },
    cover(album.cover_url, 300, ''),
    h('span', { class: 'title' }, album.title),
    h('span', { class: 'sub' }, [album.artist.name, album.year].filter(Boolean).join(' · ')));

export const albumsView = () => pagedGrid('Albums', (cursor) => api.get('/api/music/albums', { limit: 60, cursor }), albumCard);

export const artistsView = () =>
  pagedGrid('Artists', (cursor) => api.get('/api/music/artists', { limit: 100, cursor }), (artist) =>
    h('a', { class: 'artist-card', href: `/artists/${artist.id}`, 'data-link': true },
      h('span', { class: 'title' }, artist.name),
      h('span', { class: 'sub' }, `${artist.album_count} albums · ${artist.song_count} songs`)));

export const genresView = () =>
  pagedGrid('Genres', (offset) => api.get('/api/music/genres', { limit: 200, offset: offset ?? 0 }), (genre) =>
    h('a', { class: 'artist-card', href: `/?genre=${encodeURIComponent(genre.name)}`, 'data-link': true },
      h('span', { class: 'title' }, genre.name), h('span', { class: 'sub' }, `${genre.song_count} songs`)));

export async function albumView(id) {
  const rerender = () => albumView(id);
  const detail = await loading(() => api.get(`/api/music/albums/${encodeURIComponent(id)}`), rerender);
  if (!detail) return null;
  const { songs } = detail;
  const album = detail.album ?? detail;
  const header = h('div', { class: 'view-header album-header' },
    cover(album.cover_url, 300, `Cover of ${album.title}`),
    h('div', {},
      h('h1', {}, album.title),
      h('p', {}, h('a', { href: `/artists/${album.artist.id}`, 'data-link': true }, album.artist.name), album.year ? ` · ${album.year}` : ''),
      h('p', { class: 'sub' }, `${album.song_count} songs · ${formatTime(album.duration)}`),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'button primary', dataset: { playAll: '' }, onclick: () => player.playSongs(songs) }, '▶ Play'),
        h('button', { type: 'button', class: 'button', onclick: () => player.enqueue(songs) }, 'Add to queue'),
        h('button', { type: 'button', class: 'button', dataset: { startRadio: '' }, onclick: () => startRadio({ album: album.id }, album.title) }, 'Start radio'))));
  return mountList(header, songList({ label: `Tracks of ${album.title}`, items: songs, extra: (s) => (s.track ? `${s.disc > 1 ? s.disc + '-' : ''}${s.track}` : '') }));
}

/** "A minor (8A)", or null. */
const keyText = (song) => (song.key ? `${song.key} (${song.camelot})` : null);

/** A song's page: its details (tempo and key among them), radio from it, and the songs that sound like it. */
export async function songView(id) {
  const rerender = () => songView(id);
  const song = await loading(() => api.get(`/api/music/songs/${encodeURIComponent(id)}`), rerender);
  if (!song) return null;
  const detail = (label, value, hook) => (value == null ? null : [h('dt', {}, label), h('dd', { dataset: { [hook]: '' } }, String(value))]);
  const header = h('div', { class: 'view-header album-header' },
    cover(song.cover_url, 300, `Cover of ${song.album.name}`),
    h('div', {},
      h('h1', {}, song.title),
      h('p', {}, h('a', { href: `/artists/${song.artist.id}`, 'data-link': true }, song.artist.name), ' · ',
        h('a', { href: `/albums/${song.album.id}`, 'data-link': true }, song.album.name)),
      h('dl', { class: 'details', dataset: { songDetails: '' } },
        detail('Length', formatTime(song.duration), 'songDuration'),
        detail('Tempo', song.bpm == null ? null : `${Math.round(song.bpm)} BPM`, 'songBpm'),
        detail('Key', keyText(song), 'songKey'),
        detail('Format', `${song.codec}${song.bitrate ? ` · ${song.bitrate} kbps` : ''}`, 'songFormat'),
        detail('Plays', song.play_count, 'songPlays')),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'button primary', onclick: () => player.playSongs([song]) }, '▶ Play'),
        h('button', { type: 'button', class: 'button', dataset: { startRadio: '' }, onclick: () => startRadio({ song: song.id }, song.title, song) }, 'Start radio')),
      h('h2', {}, 'Similar songs')));
  let similar;
  try {
    similar = await api.get(`/api/music/songs/${song.id}/similar`, { limit: 50 });
  } catch (error) {
    if (error.code !== 'not_analysed') {
      replace(main(), errorBox(error, rerender));
      return null;
    }
    similar = [];
  }
  const empty = song.bpm == null && !similar.length ? 'This song has not been analysed yet: its similar songs appear once it has.' : 'No other analysed songs yet.';
  return mountList(header, songList({ label: `Songs like ${song.title}`, items: similar, empty }));
}

export async function artistView(id) {
  const detail = await loading(() => api.get(`/api/music/artists/${encodeURIComponent(id)}`), () => artistView(id));
  if (!detail) return null;
  const artist = detail.artist ?? detail;
  replace(main(), h('div', { class: 'view' },
    h('div', { class: 'view-header' },
      h('h1', {}, artist.name),
      h('p', { class: 'sub' }, `${artist.album_count} albums · ${artist.song_count} songs`),
      h('div', { class: 'toolbar' },
        h('a', { class: 'button', href: `/?artist=${artist.id}`, 'data-link': true }, 'All songs'),
        h('button', { type: 'button', class: 'button', dataset: { startRadio: '' }, onclick: () => startRadio({ artist: artist.id }, artist.name) }, 'Start radio'))),
    h('div', { class: 'grid' }, detail.albums.map(albumCard))));
  return null;
}

export async function chartsView(params) {
  const period = ['week', 'month', 'all'].includes(params.get('period')) ? params.get('period') : 'week';
  const entries = await loading(() => api.get('/api/music/charts', { period, limit: 100 }), () => chartsView(params));
  if (!entries) return null;
  const header = h('div', { class: 'view-header' },
    h('h1', {}, 'Charts'),
    h('div', { class: 'tabs', role: 'tablist' }, [['week', 'This week'], ['month', 'This month'], ['all', 'All time']].map(([p, label]) =>
      h('a', { role: 'tab', href: `/charts?period=${p}`, 'data-link': true, 'aria-selected': String(p === period) }, label))));
  return mountList(header, songList({ label: 'Most played', items: entries, pick: (e) => e.song, extra: (e) => `${e.plays} plays`, empty: 'No plays in this period yet.' }));
}

export function favouritesView() {
  const header = h('div', { class: 'view-header' }, h('h1', {}, 'Favourites'));
  return mountList(header, songList({ label: 'Favourites', pick: (e) => e.song, empty: 'Star a song to find it here.', load: (cursor) => api.get('/api/me/favourites', { limit: 200, cursor }) }));
}

export function historyView() {
  const header = h('div', { class: 'view-header' }, h('h1', {}, 'History'));
  const when = (e) => new Date(e.played_at).toLocaleString();
  return mountList(header, songList({ label: 'Recently played', pick: (e) => e.song, extra: when, empty: 'Songs you play appear here.', load: (cursor) => api.get('/api/me/history', { limit: 200, cursor }) }));
}
