// Client-side routes on the History API. Links marked `data-link` navigate without a reload; nginx and the
// backend answer any such path with index.html, so a reload lands on the same page.

const routes = [];
let current = null;
const listeners = new EventTarget();

export function route(pattern, view, { public: isPublic = false } = {}) {
  routes.push({ pattern, view, isPublic });
}

export function match(path) {
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (m) return { ...r, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.origin);
  if (target.pathname + target.search === location.pathname + location.search && !replace) return render();
  history[replace ? 'replaceState' : 'pushState']({}, '', target.pathname + target.search);
  return render();
}

export function onRender(fn) {
  listeners.addEventListener('render', fn);
}

/** Renders the route for the current location; a view may return a cleanup function. */
export async function render() {
  if (typeof current === 'function') current();
  current = null;
  const found = match(location.pathname);
  listeners.dispatchEvent(new CustomEvent('render', { detail: found }));
  if (!found) return null;
  const params = new URLSearchParams(location.search);
  current = await found.view(...found.params, params);
  return found;
}

export function start() {
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-link]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  });
}
