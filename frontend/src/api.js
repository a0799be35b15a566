// The API client: JSON in and out, one error type carrying the server's code, message and field errors.

export class ApiError extends Error {
  constructor(status, code, message, fields = {}, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.body = body;
  }
  get network() {
    return this.status === 0;
  }
}

/** Fires `unauthorized` when a session ends under us, `online`/`offline` when the network comes and goes. */
export const apiEvents = new EventTarget();

export async function request(method, path, { body, query, raw = false, headers = {} } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (body instanceof FormData || typeof body === 'string') init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    apiEvents.dispatchEvent(new Event('offline'));
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  apiEvents.dispatchEvent(new Event('online'));
  if (raw && response.ok) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    if (response.status === 401 && !path.startsWith('/api/auth/login')) apiEvents.dispatchEvent(new Event('unauthorized'));
    throw new ApiError(
      response.status,
      error.code ?? 'http_' + response.status,
      error.message ?? `The server answered ${response.status}.`,
      error.fields ?? {},
      data,
    );
  }
  return data;
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body, query) => request('POST', path, { body, query }),
  put: (path, body) => request('PUT', path, { body }),
  patch: (path, body) => request('PATCH', path, { body }),
  delete: (path) => request('DELETE', path),
};
