// Errors, notices and the polite live region.
import { h } from '../dom.js';

/** A readable error with a retry button where retrying makes sense. */
export function errorBox(error, retry) {
  const box = h('div', { class: 'error-box', role: 'alert' }, h('p', {}, error?.message ?? String(error)));
  if (retry) box.append(h('button', { type: 'button', class: 'button', onclick: retry }, 'Retry'));
  return box;
}

export function announce(text) {
  const live = document.querySelector('[data-announce]');
  if (!live) return;
  live.textContent = '';
  // A fresh text node after a tick so screen readers announce a repeat too.
  setTimeout(() => (live.textContent = text), 50);
}

let toastTimer;
export function toast(text, kind = 'info') {
  let el = document.querySelector('[data-toast]');
  if (!el) {
    el = h('div', { class: 'toast', dataset: { toast: '' }, role: 'status' });
    document.body.append(el);
  }
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 3500);
}

/** Field errors from the API (`fields`) shown beside each input of a form. */
export function showFieldErrors(form, error) {
  for (const node of form.querySelectorAll('[data-field-error]')) node.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const general = form.querySelector('[data-form-error]');
  if (general) general.textContent = '';
  const fields = error?.fields ?? {};
  let shown = false;
  for (const [name, problems] of Object.entries(fields)) {
    const slot = form.querySelector(`[data-field-error="${CSS.escape(name)}"]`);
    const input = form.elements.namedItem(name);
    if (slot) {
      slot.textContent = problems.join(', ');
      shown = true;
    }
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  if (!shown && general && error) general.textContent = error.message;
}
