// Sign in and register. Field errors from the API appear beside their fields.
import { h, replace } from '../dom.js';
import { navigate } from '../router.js';
import { session } from '../stores/session.js';
import { showFieldErrors } from '../ui/feedback.js';
import { from } from '../ui/motion.js';

const main = () => document.querySelector('[data-main]');

function field(label, name, type, attrs = {}) {
  const id = `field-${name}`;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name, type, required: true, 'aria-describedby': `${id}-error`, ...attrs }),
    h('span', { class: 'field-error', id: `${id}-error`, dataset: { fieldError: name } }));
}

async function submitting(form, action) {
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await action();
    const next = new URLSearchParams(location.search).get('next');
    navigate(next?.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
  } catch (error) {
    showFieldErrors(form, error);
  } finally {
    button.disabled = false;
  }
}

export function loginView() {
  const form = h('form', { class: 'card auth', novalidate: true, dataset: { loginForm: '' } },
    h('h1', {}, 'Sign in to Fermata'),
    field('Username or email', 'username', 'text', { autocomplete: 'username', autofocus: true }),
    field('Password', 'password', 'password', { autocomplete: 'current-password' }),
    h('p', { class: 'form-error', role: 'alert', dataset: { formError: '' } }),
    h('button', { type: 'submit', class: 'button primary' }, 'Sign in'),
    h('p', {}, 'New here? ', h('a', { href: '/register', 'data-link': true }, 'Create an account')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitting(form, () => session.login(form.elements.username.value, form.elements.password.value));
  });
  replace(main(), form);
  from(form, { y: 16, opacity: 0 });
}

export function registerView() {
  const form = h('form', { class: 'card auth', novalidate: true, dataset: { registerForm: '' } },
    h('h1', {}, 'Create your account'),
    field('Username', 'username', 'text', { autocomplete: 'username', autofocus: true }),
    field('Email', 'email', 'email', { autocomplete: 'email' }),
    field('Password (at least 8 characters)', 'password', 'password', { autocomplete: 'new-password' }),
    h('p', { class: 'form-error', role: 'alert', dataset: { formError: '' } }),
    h('button', { type: 'submit', class: 'button primary' }, 'Create account'),
    h('p', {}, 'Already registered? ', h('a', { href: '/login', 'data-link': true }, 'Sign in')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const { username, email, password } = form.elements;
    submitting(form, () => session.register({ username: username.value, email: email.value, password: password.value }));
  });
  replace(main(), form);
  from(form, { y: 16, opacity: 0 });
}
