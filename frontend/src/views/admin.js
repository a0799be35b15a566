// Admin: upload (drag and drop or picker, a progress bar and an outcome per file), library scan with live
// progress from /api/events, users (role, disabled), and the in-place tag editor with autosave.
import { api } from '../api.js';
import { h, replace, debounce } from '../dom.js';
import { serverEvents } from '../stores/events.js';
import { session } from '../stores/session.js';
import { errorBox } from '../ui/feedback.js';
import { loading, main } from './library.js';

const TABS = [['upload', 'Upload'], ['scan', 'Library scan'], ['users', 'Users']];
const PARALLEL_UPLOADS = 2;

function shell(active, ...content) {
  replace(main(), h('div', { class: 'view' },
    h('div', { class: 'view-header' }, h('h1', {}, 'Admin'),
      h('nav', { class: 'tabs', 'aria-label': 'Admin sections' }, TABS.map(([tab, label]) =>
        h('a', { href: `/admin/${tab}`, 'data-link': true, 'aria-current': tab === active ? 'page' : false }, label)))),
    ...content));
}

export function adminView(tab = 'upload') {
  if (!session.isAdmin) {
    replace(main(), errorBox(new Error('This page is for admins.')));
    return null;
  }
  if (tab === 'scan') return scanTab();
  if (tab === 'users') return usersTab();
  return uploadTab();
}

/** One file's upload with progress (fetch cannot report upload progress; XMLHttpRequest can). */
function upload(file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.open('POST', '/api/music/songs');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener('error', () => resolve({ status: 0, body: null }));
    xhr.send(form);
  });
}

function outcome({ status, body }) {
  if (status === 201) return ['added', `Added: ${body.title} — ${body.artist.name}`];
  if (status === 409) return ['duplicate', `Duplicate: already in the library as “${body?.song?.title ?? 'a song'}”`];
  if (status === 0) return ['refused', 'Failed: the server could not be reached'];
  const why = body?.error?.message ?? `the server answered ${status}`;
  const labels = { 413: 'Refused (too large)', 415: 'Refused (not a supported audio file)', 422: 'Refused', 503: 'Refused (server busy, retry later)' };
  return ['refused', `${labels[status] ?? 'Refused'}: ${why}`];
}

function uploadTab() {
  const picker = h('input', { type: 'file', multiple: true, accept: 'audio/*,.flac,.opus,.m4a,.ogg,.aiff,.wav,.mp3', dataset: { uploadInput: '' }, class: 'visually-hidden', id: 'upload-input' });
  const zone = h('div', { class: 'dropzone', dataset: { dropzone: '' }, tabindex: '0' },
    h('p', {}, 'Drop audio files here, or ', h('label', { for: 'upload-input', class: 'link-button' }, 'choose files'), '.'), picker);
  const list = h('ul', { class: 'uploads', dataset: { uploads: '' }, 'aria-live': 'polite' });
  const queue = [];
  let running = 0;

  function pump() {
    while (running < PARALLEL_UPLOADS && queue.length) {
      const { file, bar, result } = queue.shift();
      running++;
      upload(file, (p) => (bar.value = p)).then((answer) => {
        const [kind, text] = outcome(answer);
        bar.value = 1;
        result.textContent = text;
        result.closest('li').dataset.outcome = kind;
        running--;
        pump();
      });
    }
  }

  function add(files) {
    for (const file of files) {
      const bar = h('progress', { max: 1, value: 0, 'aria-label': `Upload of ${file.name}` });
      const result = h('span', { class: 'outcome', dataset: { uploadOutcome: '' } }, 'Waiting…');
      list.append(h('li', { dataset: { uploadFile: file.name } }, h('span', { class: 'name' }, file.name), bar, result));
      queue.push({ file, bar, result });
    }
    pump();
  }

  picker.addEventListener('change', () => {
    add(picker.files);
    picker.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    add(e.dataTransfer.files);
  });
  zone.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), picker.click()));
  shell('upload', zone, list);
  return null;
}

async function scanTab() {
  const status = await loading(() => api.get('/api/admin/scan'), scanTab);
  if (!status) return null;
  const bar = h('progress', { max: 100, value: 0, 'aria-label': 'Scan progress', dataset: { scanProgress: '' } });
  const text = h('p', { role: 'status', dataset: { scanStatus: '' } });
  const button = h('button', { type: 'button', class: 'button primary', dataset: { scanStart: '' } }, 'Scan the library folder');

  const finished = (p) =>
    `Scan finished: ${p.files ?? 0} files, ${p.added ?? 0} added, ${p.updated ?? 0} updated, ${p.moved ?? 0} moved, ${p.removed ?? 0} removed, ${p.skipped_count ?? p.skipped ?? 0} skipped.`;
  const scanning = (p) => `Scanning… ${p.done ?? 0} of ${p.total ?? '?'} files (${Math.round(p.files_per_second ?? 0)} files/s)`;
  // Events are the fast path; while a scan is queued or running the job row is also polled, because an event
  // raised before the stream (re)connected is not replayed and a small scan can finish within that moment.
  let poll = null;
  const show = (job) => {
    clearTimeout(poll);
    const p = job?.progress ?? {};
    if (!job) text.textContent = 'No scan has run yet.';
    else if (job.status === 'done') text.textContent = finished(p);
    else if (job.status === 'failed') text.textContent = `The last scan failed: ${job.last_error ?? 'see the server log'}`;
    else {
      text.textContent = job.status === 'queued' ? 'Scan queued…' : scanning(p);
      poll = setTimeout(refresh, 2000);
    }
    bar.value = job?.status === 'done' ? 100 : (p.percent ?? 0);
  };
  const refresh = async () => {
    try {
      show((await api.get('/api/admin/scan')).job);
    } catch {
      poll = setTimeout(refresh, 2000);
    }
  };
  show(status.job);

  button.addEventListener('click', async () => {
    text.textContent = 'Scan queued…';
    bar.value = 0;
    try {
      await api.post('/api/admin/scan');
      clearTimeout(poll);
      poll = setTimeout(refresh, 1000);
    } catch (error) {
      text.textContent = error.message;
    }
  });
  const onProgress = (e) => {
    bar.value = e.detail.percent ?? 0;
    text.textContent = scanning(e.detail);
  };
  const onDone = (e) => {
    clearTimeout(poll);
    bar.value = 100;
    text.textContent = finished(e.detail);
  };
  serverEvents.addEventListener('scan.progress', onProgress);
  serverEvents.addEventListener('scan.done', onDone);
  serverEvents.addEventListener('open', refresh);
  shell('scan', h('div', { class: 'card' }, button, bar, text));
  return () => {
    serverEvents.removeEventListener('scan.progress', onProgress);
    serverEvents.removeEventListener('scan.done', onDone);
    serverEvents.removeEventListener('open', refresh);
    clearTimeout(poll);
  };
}

async function usersTab() {
  const page = await loading(() => api.get('/api/admin/users', { limit: 200 }), usersTab);
  if (!page) return null;
  const rows = page.items.map((user) => {
    const status = h('span', { class: 'sub', role: 'status' });
    const save = async (patch, input, undo) => {
      try {
        await api.patch(`/api/admin/users/${user.id}`, patch);
        status.textContent = 'Saved';
      } catch (error) {
        undo(input);
        status.textContent = error.message;
      }
    };
    const role = h('select', { 'aria-label': `Role of ${user.username}`, dataset: { userRole: user.username } },
      h('option', { value: 'user', selected: user.role === 'user' }, 'Listener'),
      h('option', { value: 'admin', selected: user.role === 'admin' }, 'Admin'));
    role.addEventListener('change', () => save({ role: role.value }, role, (el) => (el.value = user.role)));
    const disabled = h('input', { type: 'checkbox', checked: user.disabled, 'aria-label': `${user.username} disabled`, dataset: { userDisabled: user.username } });
    disabled.addEventListener('change', () => save({ disabled: disabled.checked }, disabled, (el) => (el.checked = user.disabled)));
    return h('tr', {}, h('td', {}, user.username), h('td', {}, user.email), h('td', {}, role), h('td', {}, disabled), h('td', {}, status));
  });
  shell('users', h('table', { class: 'users' },
    h('caption', {}, `${page.total} accounts`),
    h('thead', {}, h('tr', {}, ['Username', 'Email', 'Role', 'Disabled', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows)));
  return null;
}

// Tempo and key: the analysis measures them; what an admin writes here stays, and an emptied field goes back
// to the measured value.
const EDITABLE = [['title', 'Title', 'text'], ['artist', 'Artist', 'text'], ['album', 'Album', 'text'], ['album_artist', 'Album artist', 'text'], ['track', 'Track', 'number'], ['disc', 'Disc', 'number'], ['year', 'Year', 'number'], ['genre', 'Genre', 'text'], ['bpm', 'Tempo (BPM)', 'number'], ['key', 'Key', 'text']];
const CLEARABLE = ['genre', 'key'];

/** Tags edited in place: each change is saved after a pause, with the version read; a conflict says so. */
export async function songEditView(id) {
  let song = await loading(() => api.get(`/api/music/songs/${encodeURIComponent(id)}`), () => songEditView(id));
  if (!song) return null;
  const state = h('p', { class: 'save-state', role: 'status', dataset: { saveState: 'idle' } }, 'All changes saved');
  const form = h('form', { class: 'card edit', novalidate: true, dataset: { songEdit: '' } });
  const value = (key) => (key === 'artist' ? song.artist.name : key === 'album' ? song.album.name : key === 'album_artist' ? '' : (song[key] ?? ''));
  for (const [key, label, type] of EDITABLE) {
    form.append(h('div', { class: 'field' },
      h('label', { for: `edit-${key}` }, label),
      h('input', { id: `edit-${key}`, name: key, type, value: value(key), placeholder: key === 'album_artist' ? 'unchanged' : '' }),
      h('span', { class: 'field-error', dataset: { fieldError: key } })));
  }
  const setState = (kind, text) => {
    state.dataset.saveState = kind;
    state.textContent = text;
  };
  const save = debounce(async () => {
    const patch = { version: song.version };
    for (const [key, , type] of EDITABLE) {
      const raw = form.elements[key].value.trim();
      if (String(value(key)) === raw || (key === 'album_artist' && !raw)) continue;
      patch[key] = type === 'number' ? (raw === '' ? null : Number(raw)) : raw === '' && CLEARABLE.includes(key) ? null : raw;
    }
    if (Object.keys(patch).length === 1) return setState('saved', 'All changes saved');
    setState('saving', 'Saving…');
    try {
      song = await api.patch(`/api/music/songs/${song.id}`, patch);
      for (const node of form.querySelectorAll('[data-field-error]')) node.textContent = '';
      setState('saved', 'All changes saved');
    } catch (error) {
      if (error.status === 409) {
        setState('conflict', 'Someone else changed this song. Reload to see their version; your edits are not saved.');
      } else {
        for (const [name, problems] of Object.entries(error.fields ?? {})) {
          const slot = form.querySelector(`[data-field-error="${name}"]`);
          if (slot) slot.textContent = problems.join(', ');
        }
        setState('error', error.message);
      }
    }
  }, 600);
  form.addEventListener('input', () => {
    setState('dirty', 'Unsaved changes…');
    save();
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  replace(main(), h('div', { class: 'view' },
    h('div', { class: 'view-header' }, h('h1', {}, 'Edit tags'), h('p', { class: 'sub' }, `${song.codec} · ${song.bitrate ? song.bitrate + ' kbps' : ''}`)),
    form, state,
    h('button', { type: 'button', class: 'button', onclick: () => songEditView(id) }, 'Reload')));
  return null;
}

