// Who is signed in. Views listen for `change`.
import { api, apiEvents } from '../api.js';

class SessionStore extends EventTarget {
  user = null;

  get isAdmin() {
    return this.user?.role === 'admin';
  }

  async load() {
    try {
      this.#set(await api.get('/api/auth/me'));
    } catch (error) {
      if (error.status !== 401) throw error;
      this.#set(null);
    }
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
