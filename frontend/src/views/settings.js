// Settings: streaming quality and loudness normalisation in this browser, and the Subsonic apps a listener connects (Symfonium, DSub,
// Feishin…). Each app gets its own generated credential, shown once; the account password never goes to an app.
import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { LOUDNESS_MODES } from '../loudness.js';
import { CROSSFADES } from '../stores/gapless.js';
import { player, QUALITIES } from '../stores/player.js';
import { session } from '../stores/session.js';
import { errorBox, showFieldErrors, toast } from '../ui/feedback.js';
import { from } from '../ui/motion.js';

const main = () => document.querySelector('[data-main]');

const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');

/** The server address an app needs: this page's origin (the nginx in front of every replica). */
const serverUrl = () => location.origin;

function secretCard(created, onDone) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      toast('Copied');
    } catch {
      toast('Select the text and copy it', 'error');
    }
  };
  return h('div', { class: 'card secret', role: 'status', dataset: { newSecret: '' } },
    h('h2', {}, `“${created.credential.name}” is ready`),
    h('p', {}, 'Enter these in the app. The password is shown only now: copy it before you leave this page.'),
    h('dl', { class: 'connect' },
      h('dt', {}, 'Server'), h('dd', {}, h('code', {}, serverUrl())),
      h('dt', {}, 'Username'), h('dd', {}, h('code', {}, created.username)),
      h('dt', {}, 'Password (or API key)'), h('dd', {}, h('code', { dataset: { secret: '' } }, created.secret))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button', onclick: copy }, 'Copy password'),
      h('button', { type: 'button', class: 'button primary', onclick: onDone }, 'Done')));
}

const QUALITY_LABELS = {
  original: 'Original (as stored)',
  high: 'High (256 kbit/s)',
  normal: 'Normal (160 kbit/s)',
  low: 'Low (96 kbit/s, for mobile data)',
};

const LOUDNESS_LABELS = {
  album: 'By album when an album plays in order',
  track: 'By track, every song alike',
};

/** Streaming quality and loudness: kept with the player's state in this browser. */
function playbackSection() {
  const select = h('select', { id: 'quality', name: 'quality', dataset: { quality: '' } },
    ...Object.keys(QUALITIES).map((key) => h('option', { value: key, selected: player.quality === key }, QUALITY_LABELS[key])));
  select.addEventListener('change', () => {
    player.setQuality(select.value);
    toast(`Streaming quality: ${QUALITY_LABELS[select.value]}`);
  });
  const loudness = h('select', { id: 'loudness', name: 'loudness', dataset: { loudnessMode: '' } },
    ...LOUDNESS_MODES.map((mode) => h('option', { value: mode, selected: player.loudnessMode === mode }, LOUDNESS_LABELS[mode])));
  loudness.addEventListener('change', () => {
    player.setLoudnessMode(loudness.value);
    toast(`Loudness: ${LOUDNESS_LABELS[loudness.value].toLowerCase()}`);
  });
  return h('section', { class: 'settings', dataset: { playbackSettings: '' } },
    h('h2', {}, 'Playback'),
    h('div', { class: 'field' }, h('label', { for: 'quality' }, 'Streaming quality'), select),
    h('p', { class: 'sub' },
      'Songs over this bitrate are converted on the server before they are sent, which saves data on a slow ',
      'connection. Formats this browser cannot play (Apple Lossless in Chrome, WavPack) are always converted.'),
    h('div', { class: 'field' }, h('label', { for: 'loudness' }, 'Loudness'), loudness),
    h('p', { class: 'sub' },
      'By album, an album played in order keeps its own dynamics: a quiet interlude stays quieter than the songs ',
      'around it. By track, every song is brought to the same loudness. The LN button in the player turns it off.'),
    ...transitionFields());
}

/** Gapless playback and crossfade. */
function transitionFields() {
  const gapless = h('input', { id: 'gapless', name: 'gapless', type: 'checkbox', checked: player.gapless, dataset: { gapless: '' } });
  gapless.addEventListener('change', () => {
    player.setGapless(gapless.checked);
    toast(gapless.checked ? 'Gapless playback on' : 'Gapless playback off');
  });
  const crossfade = h('select', { id: 'crossfade', name: 'crossfade', dataset: { crossfade: '' } },
    ...CROSSFADES.map((seconds) => h('option', { value: String(seconds), selected: player.crossfade === seconds }, seconds ? `${seconds} s` : 'Off')));
  crossfade.addEventListener('change', () => {
    player.setCrossfade(Number(crossfade.value));
    toast(Number(crossfade.value) ? `Crossfade: ${crossfade.value} s` : 'Crossfade off');
  });
  return [
    h('div', { class: 'field' }, h('label', { for: 'gapless' }, gapless, ' Gapless playback')),
    h('p', { class: 'sub' },
      'Songs are decoded ahead so each one starts on the sample where the one before ends: live albums and mixes ',
      'flow on without a gap or a click. It holds the current and the next songs decoded in memory (about 21 MB ',
      'per minute of CD-quality stereo); songs longer than 15 minutes play without it.'),
    h('div', { class: 'field' }, h('label', { for: 'crossfade' }, 'Crossfade'), crossfade),
    h('p', { class: 'sub' },
      'Songs overlap by this long, one fading out as the next fades in. An album played in order is never ',
      'crossfaded: its songs stay gapless.'),
  ];
}

export async function settingsView() {
  const root = main();
  const section = h('section', { class: 'settings', dataset: { subsonicSettings: '' } });
  replace(root, h('h1', {}, 'Settings'), playbackSection(), section);
  let created = null;

  const draw = async () => {
    let list;
    try {
      list = await api.get('/api/me/subsonic-credentials');
    } catch (error) {
      replace(section, errorBox(error, draw));
      return;
    }
    const heading = h('h2', {}, 'Subsonic apps');
    const intro = h('p', {},
      'Listen with apps that speak the Subsonic API (Symfonium, DSub, Feishin, Tempus, substreamer). ',
      'Give each app its own password from here, so you can revoke one without touching the others. ',
      'Your account password never goes to an app.');
    if (!list.enabled) {
      replace(section, heading, intro, h('p', { class: 'sub', dataset: { subsonicOff: '' } },
        'Subsonic access is switched off on this server. Its admin turns it on by setting SUBSONIC_CREDENTIAL_KEY.'));
      return;
    }
    const form = h('form', { class: 'inline-form', novalidate: true, dataset: { newCredential: '' } },
      h('div', { class: 'field' },
        h('label', { for: 'credential-name' }, 'App or device'),
        h('input', { id: 'credential-name', name: 'name', type: 'text', required: true, maxlength: 100, placeholder: 'Phone – Symfonium', 'aria-describedby': 'credential-name-error' }),
        h('span', { class: 'field-error', id: 'credential-name-error', dataset: { fieldError: 'name' } })),
      h('p', { class: 'form-error', role: 'alert', dataset: { formError: '' } }),
      h('button', { type: 'submit', class: 'button primary', disabled: list.items.length >= list.max }, 'Create password'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        created = await api.post('/api/me/subsonic-credentials', { name: form.elements.name.value });
        await draw();
      } catch (error) {
        showFieldErrors(form, error);
        button.disabled = false;
      }
    });
    const rows = list.items.map((item) => h('tr', { dataset: { credential: item.id } },
      h('td', {}, item.name),
      h('td', {}, when(item.created_at)),
      h('td', {}, when(item.last_used_at)),
      h('td', {}, h('button', {
        type: 'button',
        class: 'button danger',
        'aria-label': `Revoke ${item.name}`,
        onclick: async (event) => {
          if (!confirm(`Revoke “${item.name}”? The app using it stops working.`)) return;
          event.currentTarget.disabled = true;
          try {
            await api.delete(`/api/me/subsonic-credentials/${encodeURIComponent(item.id)}`);
            toast(`Revoked ${item.name}`);
          } catch (error) {
            toast(error.message, 'error');
          }
          await draw();
        },
      }, 'Revoke'))));
    const table = list.items.length
      ? h('table', { class: 'users credentials' },
        h('caption', {}, `${list.items.length} of at most ${list.max}`),
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Created'), h('th', {}, 'Last used'), h('th', {}, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h('tbody', {}, rows))
      : h('p', { class: 'sub' }, 'No app is connected yet.');
    const help = h('p', { class: 'sub' },
      `In the app, add a server with the address ${serverUrl()}, your username `,
      h('code', {}, session.user?.username ?? ''),
      ' and the password created here. docs/subsonic.md lists the apps and their settings.');
    const shown = created ? secretCard(created, () => { created = null; draw(); }) : null;
    replace(section, heading, intro, shown, form, table, help);
    if (shown) from(shown, { y: 12, opacity: 0 });
  };
  await draw();
  return () => { created = null; };
}
