// Who is signed in. Views listen for `change`.
import { api, apiEvents } from '../api.js';

class SessionStore extends EventTarget {
  user = null;

  get isAdmin() {
    return this.user?.role === 'admin';
  }

  /** Asks who is signed in: a signed-out visitor is `user: null`, not a failed request in the console. */
  async load() {
    const { user } = await api.get('/api/auth/session');
    this.#set(user ?? null);
    return this.user;
  }

  async login(username, password) {
    this.#set(await api.post('/api/auth/login', { username, password }));
  }

  async register(fields) {
    await api.post('/api/users/register', fields);
    await this.login(fields.username, fields.password);
  }

  async logout() {
    try {
      await api.post('/api/auth/logout');
    } finally {
      this.#set(null);
    }
  }

  #set(user) {
    this.user = user;
    this.dispatchEvent(new Event('change'));
  }

  constructor() {
    super();
    // A session that ends on the server (disabled, expired, password changed elsewhere) signs us out here.
    apiEvents.addEventListener('unauthorized', () => {
      if (this.user) this.#set(null);
    });
  }
}

export const session = new SessionStore();
