// Building DOM safely: every string child becomes a text node, attributes are set one by one. User text never
// goes through innerHTML.
import { icon } from './ui/icons.js';

/**
 * h('button', {class: 'x', dataset: {play: id}, onclick: fn}, 'Play', child)
 * Attribute values of `false`/`null`/`undefined` are skipped; `true` sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60);
  const m = Math.floor(seconds / 60) % 60;
  const hours = Math.floor(seconds / 3600);
  const mm = hours ? String(m).padStart(2, '0') : String(m);
  return `${hours ? hours + ':' : ''}${mm}:${String(s).padStart(2, '0')}`;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const reducedMotion = () => window.matchMedia('(prefers-reduced-motion: reduce)').matches;

/** A cover image (or a placeholder) that never fails loudly. */
export function cover(url, size, alt = '') {
  const placeholder = () => h('div', { class: 'cover placeholder', 'aria-hidden': 'true' }, icon('note'));
  if (!url) return placeholder();
  const img = h('img', { class: 'cover', src: `${url}?size=${size}`, alt, loading: 'lazy', width: size, height: size });
  img.addEventListener('error', () => img.replaceWith(placeholder()), { once: true });
  return img;
}
