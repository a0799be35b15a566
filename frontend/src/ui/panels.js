// The queue panel, the now-playing view and the keyboard-shortcut help: overlays opened from the player bar.
import { h, cover, formatTime, replace } from '../dom.js';
import { player } from '../stores/player.js';
import { icon } from './icons.js';
import { from, slide } from './motion.js';

export function queuePanel() {
  const list = h('ol', { class: 'queue-list', dataset: { queueList: '' } });
  const panel = h('aside', { class: 'panel queue-panel', hidden: true, 'aria-label': 'Queue', dataset: { queuePanel: '' } },
    h('header', {},
      h('h2', {}, 'Queue'),
      h('button', { type: 'button', class: 'link-button', dataset: { queueClear: '' }, onclick: () => player.clear() }, 'Clear'),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close queue', onclick: () => toggle(false) }, icon('close'))),
    list);
  let dragFrom = -1;

  function render() {
    if (panel.hidden) return;
    replace(list, player.queue.map((song, i) =>
      h('li', { class: i === player.index ? 'current' : '', draggable: 'true', dataset: { queueIndex: i }, 'aria-current': i === player.index ? 'true' : false },
        h('button', { type: 'button', class: 'queue-title', dataset: { queueJump: '' }, 'aria-label': `Play ${song.title}` },
          h('span', { class: 'title' }, song.title), h('span', { class: 'sub' }, `${song.artist.name} · ${formatTime(song.duration)}`)),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': `Play ${song.title} next`, dataset: { queueNext: '' }, disabled: i === player.index }, icon('playNext')),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${song.title} up`, dataset: { queueUp: '' }, disabled: i === 0 }, icon('up')),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': `Move ${song.title} down`, dataset: { queueDown: '' }, disabled: i === player.queue.length - 1 }, icon('down')),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': `Remove ${song.title} from the queue`, dataset: { queueRemove: '' } }, icon('close')))));
    if (!player.queue.length) list.append(h('li', { class: 'empty' }, 'The queue is empty.'));
  }

  list.addEventListener('click', (event) => {
    const li = event.target.closest('[data-queue-index]');
    if (!li) return;
    const i = Number(li.dataset.queueIndex);
    if (event.target.closest('[data-queue-jump]')) player.jump(i);
    else if (event.target.closest('[data-queue-up]')) player.move(i, i - 1);
    else if (event.target.closest('[data-queue-down]')) player.move(i, i + 1);
    else if (event.target.closest('[data-queue-remove]')) player.remove(i);
    else if (event.target.closest('[data-queue-next]')) player.move(i, i < player.index ? player.index : player.index + 1);
  });
  list.addEventListener('dragstart', (event) => {
    dragFrom = Number(event.target.closest('[data-queue-index]')?.dataset.queueIndex ?? -1);
    event.dataTransfer.effectAllowed = 'move';
  });
  list.addEventListener('dragover', (event) => event.preventDefault());
  list.addEventListener('drop', (event) => {
    event.preventDefault();
    const target = event.target.closest('[data-queue-index]');
    if (target && dragFrom >= 0) player.move(dragFrom, Number(target.dataset.queueIndex));
    dragFrom = -1;
  });

  function toggle(open = panel.hidden) {
    if (open) {
      panel.hidden = false;
      render();
    }
    slide(panel, open);
    if (open) panel.querySelector('button')?.focus();
  }

  player.addEventListener('queue', render);
  player.addEventListener('track', render);
  return { element: panel, toggle };
}

export function nowPlaying() {
  const body = h('div', { class: 'now-playing-body' });
  const view = h('section', { class: 'panel now-playing', hidden: true, 'aria-label': 'Now playing', dataset: { nowPlaying: '' } },
    h('button', { type: 'button', class: 'icon-button close', 'aria-label': 'Close now playing', onclick: () => toggle(false) }, icon('close')),
    body);

  function render() {
    const song = player.song;
    if (!song) return replace(body, h('p', {}, 'Nothing is playing.'));
    replace(body,
      cover(song.cover_url, 600, `Cover of ${song.album.name}`),
      h('h2', { dataset: { nowTitle: '' } }, song.title),
      h('p', {}, h('a', { href: `/artists/${song.artist.id}`, 'data-link': true, onclick: () => toggle(false) }, song.artist.name)),
      h('p', { class: 'sub' }, h('a', { href: `/albums/${song.album.id}`, 'data-link': true, onclick: () => toggle(false) }, song.album.name)));
    if (!view.hidden) from(body.children, { y: 24, opacity: 0, stagger: 0.06 });
  }

  function toggle(open = view.hidden) {
    if (open) render();
    slide(view, open);
  }

  player.addEventListener('track', render);
  return { element: view, toggle };
}

export const SHORTCUTS = [
  ['Space', 'Play or pause'],
  ['← / →', 'Seek 5 seconds back / forward'],
  ['↑ / ↓', 'Volume up / down'],
  ['N', 'Next song'],
  ['P', 'Previous song'],
  ['M', 'Mute or unmute'],
  ['S', 'Shuffle on or off'],
  ['R', 'Repeat: off, all, one'],
  ['Q', 'Show or hide the queue'],
  ['/', 'Search'],
  ['?', 'This help'],
];

export function helpOverlay() {
  const dialog = h('dialog', { class: 'help', 'aria-label': 'Keyboard shortcuts', dataset: { help: '' } },
    h('h2', {}, 'Keyboard shortcuts'),
    h('dl', {}, SHORTCUTS.map(([key, what]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)])),
    h('form', { method: 'dialog' }, h('button', { class: 'button' }, 'Close')));
  return {
    element: dialog,
    toggle() {
      if (dialog.open) dialog.close();
      else {
        dialog.showModal();
        from(dialog, { y: 20, opacity: 0, duration: 0.25 });
      }
    },
  };
}
