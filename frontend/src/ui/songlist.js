// A virtualised song list: only the rows in view (plus a margin) exist in the DOM, so 100,000 songs scroll as
// smoothly as 100. Pages load as the end comes into view. Rows are wired by delegation through data-* hooks.
import { icon } from './icons.js';
import { h, formatTime } from '../dom.js';
import { player } from '../stores/player.js';
import { errorBox } from './feedback.js';
import { choosePlaylist, setFavourite, songMenu } from './songmenu.js';

const ROW = 52;
const OVERSCAN = 8;

/**
 * options.load(cursor) → {items, next_cursor}   (paged source), or options.items (a fixed list)
 * options.pick(item) → song                      (entries that wrap a song: history, charts, playlists)
 * options.extra(item, i) → node | null           (a trailing cell: play count, date, drag handle)
 * options.empty                                  text (or an element) when there is nothing
 */
export function songList(options) {
  const pick = options.pick ?? ((x) => x);
  const state = { items: options.items ? options.items.slice() : [], cursor: null, done: !!options.items, loading: false, error: null };
  const selected = new Set();
  const rows = new Map();

  const spacer = h('div', { class: 'songlist-spacer' });
  const status = h('div', { class: 'songlist-status', role: 'status' });
  const selection = h('div', { class: 'selection-bar', hidden: true },
    h('span', { dataset: { selectionCount: '' } }),
    h('button', { type: 'button', class: 'button', dataset: { selectionPlay: '' } }, 'Play'),
    h('button', { type: 'button', class: 'button', dataset: { selectionQueue: '' } }, 'Add to queue'),
    h('button', { type: 'button', class: 'button', dataset: { selectionPlaylist: '' } }, 'Add to playlist…'),
    h('button', { type: 'button', class: 'link-button', dataset: { selectionClear: '' } }, 'Clear selection'),
  );
  const viewport = h('div', { class: 'songlist', role: 'list', 'aria-label': options.label ?? 'Songs', tabindex: '-1' }, spacer);
  const root = h('div', { class: 'songlist-wrap' }, selection, viewport, status);

  const songsOf = (ids) => state.items.map(pick).filter((s) => ids.has(s.id));

  function row(item, i) {
    const song = pick(item);
    const current = player.song?.id === song.id;
    return h('div', { class: `song-row${current ? ' current' : ''}${selected.has(song.id) ? ' selected' : ''}`, role: 'listitem', 'aria-setsize': state.done ? state.items.length : -1, 'aria-posinset': i + 1, dataset: { index: i, songId: song.id }, style: `transform: translateY(${i * ROW}px)` },
      h('input', { type: 'checkbox', class: 'select', 'aria-label': `Select ${song.title}`, checked: selected.has(song.id), dataset: { select: '' } }),
      h('button', { type: 'button', class: 'icon-button play', 'aria-label': `Play ${song.title}`, dataset: { play: '' } }, icon(current && player.playing ? 'equaliser' : 'play')),
      h('div', { class: 'title-cell' },
        h('span', { class: 'title' }, song.title),
        h('span', { class: 'sub' },
          h('a', { href: `/artists/${song.artist.id}`, 'data-link': true }, song.artist.name), ' · ',
          h('a', { href: `/albums/${song.album.id}`, 'data-link': true }, song.album.name))),
      options.extra ? h('div', { class: 'extra' }, options.extra(item, i)) : null,
      h('span', { class: 'duration' }, formatTime(song.duration)),
      h('button', { type: 'button', class: 'icon-button fav', 'aria-label': `Favourite ${song.title}`, 'aria-pressed': String(!!song.favourite), dataset: { fav: '' } }, icon(song.favourite ? 'star' : 'starOutline')),
      h('button', { type: 'button', class: 'icon-button more', 'aria-label': `More for ${song.title}`, 'aria-haspopup': 'menu', dataset: { menu: '' } }, icon('more')),
    );
  }

  function draw(force = false) {
    spacer.style.height = `${state.items.length * ROW}px`;
    const top = viewport.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(state.items.length - 1, Math.ceil((top + viewport.clientHeight) / ROW) + OVERSCAN);
    for (const [i, el] of rows) {
      if (force || i < first || i > last) {
        el.remove();
        rows.delete(i);
      }
    }
    for (let i = first; i <= last; i++) {
      if (rows.has(i)) continue;
      const el = row(state.items[i], i);
      rows.set(i, el);
      viewport.append(el);
    }
    if (!state.done && !state.loading && !state.error && last >= state.items.length - 20) more();
    const count = state.items.length;
    if (state.error) status.replaceChildren(errorBox(state.error, () => ((state.error = null), more())));
    else if (!state.loading && count === 0 && options.empty instanceof Node) status.replaceChildren(options.empty);
    else status.textContent = state.loading ? 'Loading…' : count === 0 ? (options.empty ?? 'Nothing here yet.') : '';
  }

  async function more() {
    state.loading = true;
    draw();
    try {
      const page = await options.load(state.cursor);
      state.items.push(...page.items);
      state.cursor = page.next_cursor ?? null;
      state.done = !state.cursor;
    } catch (error) {
      state.error = error;
    }
    state.loading = false;
    draw();
  }

  function playFrom(i) {
    // The queue takes a window around the chosen song, so "previous" works and memory stays bounded.
    const from = Math.max(0, i - 100);
    const songs = state.items.slice(from, i + 400).map(pick);
    player.playSongs(songs, i - from);
  }

  function updateSelection() {
    selection.hidden = selected.size === 0;
    selection.querySelector('[data-selection-count]').textContent = `${selected.size} selected`;
  }

  let frame = 0;
  viewport.addEventListener('scroll', () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => draw());
  });
  viewport.addEventListener('click', async (event) => {
    const rowEl = event.target.closest('[data-index]');
    if (!rowEl) return;
    const i = Number(rowEl.dataset.index);
    const song = pick(state.items[i]);
    if (event.target.closest('[data-play]')) {
      if (player.song?.id === song.id) player.toggle();
      else playFrom(i);
    } else if (event.target.closest('[data-menu]')) {
      songMenu(event.target.closest('[data-menu]'), song, { onChange: () => draw(true) });
    } else if (event.target.closest('[data-fav]')) {
      await setFavourite(song, !song.favourite).catch(() => {});
      draw(true);
    } else if (event.target.closest('[data-select]')) {
      if (event.target.checked) selected.add(song.id);
      else selected.delete(song.id);
      rowEl.classList.toggle('selected', event.target.checked);
      updateSelection();
    }
  });
  viewport.addEventListener('dblclick', (event) => {
    const rowEl = event.target.closest('[data-index]');
    if (rowEl && !event.target.closest('button, a, input')) playFrom(Number(rowEl.dataset.index));
  });
  selection.addEventListener('click', (event) => {
    const songs = songsOf(selected);
    if (event.target.closest('[data-selection-play]')) player.playSongs(songs);
    else if (event.target.closest('[data-selection-queue]')) player.enqueue(songs);
    else if (event.target.closest('[data-selection-playlist]')) choosePlaylist(event.target, songs);
    else if (event.target.closest('[data-selection-clear]')) {
      selected.clear();
      draw(true);
    } else return;
    if (!event.target.closest('[data-selection-playlist]')) {
      selected.clear();
      draw(true);
    }
    updateSelection();
  });

  const redraw = () => draw(true);
  player.addEventListener('track', redraw);
  player.addEventListener('state', redraw);
  const resize = new ResizeObserver(() => draw());
  resize.observe(viewport);
  if (options.items) draw();
  else more();

  return {
    element: root,
    items: () => state.items,
    refresh: redraw,
    destroy() {
      resize.disconnect();
      player.removeEventListener('track', redraw);
      player.removeEventListener('state', redraw);
    },
  };
}
