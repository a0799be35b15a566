// The web player's entry: routes, the shell (top bar, navigation, player, panels), keyboard shortcuts and the
// signed-in / signed-out switch.
import { apiEvents } from './api.js';
import { h } from './dom.js';
import { match, navigate, onRender, render, route, start } from './router.js';
import { serverEvents } from './stores/events.js';
import { player } from './stores/player.js';
import { playlists } from './stores/playlists.js';
import { session } from './stores/session.js';
import { errorBox, toast } from './ui/feedback.js';
import { helpOverlay, nowPlaying, queuePanel } from './ui/panels.js';
import { mountPlayerBar } from './ui/playerbar.js';
import { adminView, songEditView } from './views/admin.js';
import { loginView, registerView } from './views/auth.js';
import {
  albumView, albumsView, artistView, artistsView, chartsView, favouritesView, genresView, historyView, songView, songsView,
  wireSearch,
} from './views/library.js';
import { playlistView, playlistsView } from './views/playlists.js';
import { settingsView } from './views/settings.js';

const ID = '([^/]+)';
route(/^\/login$/, loginView, { public: true });
route(/^\/register$/, registerView, { public: true });
route(/^\/$/, songsView);
route(/^\/albums$/, albumsView);
route(new RegExp(`^/albums/${ID}$`), albumView);
route(new RegExp(`^/songs/${ID}$`), songView);
route(/^\/artists$/, artistsView);
route(new RegExp(`^/artists/${ID}$`), artistView);
route(/^\/genres$/, genresView);
route(/^\/charts$/, chartsView);
route(/^\/favourites$/, favouritesView);
route(/^\/history$/, historyView);
route(/^\/playlists$/, playlistsView);
route(new RegExp(`^/playlists/${ID}$`), playlistView);
route(/^\/settings$/, settingsView);
route(/^\/admin$/, () => adminView('upload'));
route(new RegExp(`^/admin/songs/${ID}$`), songEditView);
route(/^\/admin\/(upload|scan|users)$/, adminView);
route(/.*/, () => {
  document.querySelector('[data-main]').replaceChildren(errorBox(new Error('There is no such page.'), () => navigate('/')));
  return null;
});

const $ = (selector) => document.querySelector(selector);
const queue = queuePanel();
const now = nowPlaying();
const help = helpOverlay();
document.body.append(queue.element, now.element, help.element);
for (const audio of player.elements) {
  audio.hidden = true;
  document.body.append(audio);
}

function shell(signedIn) {
  for (const el of [$('[data-topbar]'), $('[data-nav]')]) el.hidden = !signedIn;
  $('[data-player]').hidden = !signedIn || !player.song;
  document.body.classList.toggle('signed-in', signedIn);
  $('[data-admin-only]').hidden = !session.isAdmin;
  $('[data-who]').textContent = session.user ? (session.user.display_name ?? session.user.username) : '';
}

/** Routes that need a session send a signed-out visitor to sign in, and back afterwards. */
onRender((event) => {
  const found = event.detail;
  for (const link of document.querySelectorAll('[data-nav] a')) {
    const here = link.getAttribute('href') === '/' ? location.pathname === '/' : location.pathname.startsWith(link.getAttribute('href'));
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  $('[data-nav]').classList.remove('open');
  // The search box says what the page shows: the songs' query there, nothing anywhere else (it kept its text
  // after leaving the results once). Never while someone types in it: the search navigates as they type.
  const search = $('[data-search]');
  if (document.activeElement !== search) {
    search.value = location.pathname === '/' ? (new URLSearchParams(location.search).get('q') ?? '') : '';
  }
  // Focus moves to the new page for keyboard and screen-reader users, except while someone is typing a search:
  // the search navigates as they type, and taking the box away would drop their next keystrokes.
  if (!found?.isPublic && !document.activeElement?.matches('[data-search]')) $('[data-main]').focus({ preventScroll: true });
});

const gate = (target) => {
  const found = match(location.pathname);
  if (!session.user && !found?.isPublic) {
    const next = location.pathname + location.search;
    return navigate(`/login${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true });
  }
  if (session.user && found?.isPublic) return navigate('/', { replace: true });
  return target ? navigate(target) : render();
};

session.addEventListener('change', () => {
  shell(!!session.user);
  if (session.user) {
    serverEvents.connect();
    playlists.load(true).catch(() => {});
  } else {
    serverEvents.disconnect();
    playlists.reset();
    player.pause();
  }
  gate();
});

$('[data-logout]').addEventListener('click', async () => {
  await session.logout().catch(() => {});
  player.forget();
});
$('[data-nav-toggle]').addEventListener('click', (e) => {
  const open = $('[data-nav]').classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});
wireSearch($('[data-search]'));

// A lost network shows a banner with a retry instead of a blank page.
const banner = $('[data-banner]');
apiEvents.addEventListener('offline', () => {
  banner.replaceChildren(h('span', {}, 'The connection to Fermata was lost. '), h('button', { type: 'button', class: 'button', onclick: () => render() }, 'Retry'));
  banner.hidden = false;
});
apiEvents.addEventListener('online', () => (banner.hidden = true));

mountPlayerBar($('[data-player]'), { toggleQueue: () => queue.toggle(), toggleNowPlaying: () => now.toggle(), toggleHelp: () => help.toggle() });
player.addEventListener('track', () => ($('[data-player]').hidden = !session.user || !player.song));

document.addEventListener('keydown', (event) => {
  const t = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (t.closest?.('input, textarea, select, [contenteditable=""], [contenteditable="true"]') && event.key !== 'Escape') return;
  if (!session.user) return;
  const actions = {
    ' ': () => player.toggle(),
    ArrowLeft: () => player.seek(player.currentTime - 5),
    ArrowRight: () => player.seek(player.currentTime + 5),
    ArrowUp: () => player.setVolume(player.volume + 0.05),
    ArrowDown: () => player.setVolume(player.volume - 0.05),
    n: () => player.next(),
    p: () => player.previous(),
    m: () => player.toggleMute(),
    s: () => player.toggleShuffle(),
    r: () => player.cycleRepeat(),
    q: () => queue.toggle(),
    '/': () => $('[data-search]').focus(),
    '?': () => help.toggle(),
  };
  const action = actions[event.key] ?? actions[event.key.toLowerCase?.()];
  // Space and arrows keep their native meaning on buttons, sliders and in scrollable lists.
  if (!action || ((event.key === ' ' || event.key.startsWith('Arrow')) && t.closest?.('button, a, [role=list], .songlist'))) return;
  event.preventDefault();
  action();
});

start();
// Loading the session fires `change`, which draws the shell and the first page.
session.load().catch((error) => {
  $('[data-main]').replaceChildren(errorBox(error, () => location.reload()));
  toast(error.message, 'error');
});
