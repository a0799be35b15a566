// Gapless playback and crossfade, measured on what the player outputs. One continuous sine sweep is cut into three
// tracks at sample positions no codec frame lines up with, written as FLAC, MP3, Opus and AAC, indexed from the
// library folder, and played in order in Chromium while a tap records every sample that reaches the speakers.
// Around each seam the recording must be the decoded tracks back to back (no gap, no overlap, no click): the
// player with gapless on passes; the same check on the player with it off (each song on its own audio element,
// today's behaviour before gapless) must fail. A 5 s crossfade between two songs of different albums is measured
// for length and equal power.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, openPage, startStack } from './harness.mjs';

const RATE = 48000;
const SWEEP_SECONDS = 7.5;
/** Where the sweep is cut: on no MP3 (1152), AAC (1024), Opus (960) or FLAC (4096) frame boundary. */
const CUTS = [120001, 240007];
const FORMATS = {
  flac: { ext: 'flac', args: ['-c:a', 'flac'] },
  mp3: { ext: 'mp3', args: ['-c:a', 'libmp3lame', '-b:a', '192k'] },
  opus: { ext: 'opus', args: ['-c:a', 'libopus', '-b:a', '160k'] },
  aac: { ext: 'm4a', args: ['-c:a', 'aac', '-b:a', '192k'] },
};
// 110 Hz rising to 880 Hz: every stretch of it is unique, so a recording can be aligned with it.
const SWEEP = `0.5*sin(2*PI*(110*t+(880-110)/(2*${SWEEP_SECONDS})*t*t))`;

let stack;
const problems = [];
const results = {};

function ffmpeg(...args) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

before(async () => {
  stack = await startStack();
  const source = path.join(stack.fixtures, 'sweep.wav');
  ffmpeg('-f', 'lavfi', '-i', `aevalsrc=${SWEEP}:s=${RATE}:d=${SWEEP_SECONDS}`, '-ac', '2', '-c:a', 'pcm_s16le', source);
  // The source itself, as a song of its own: the reference the decoded tracks are compared with.
  mkdirSync(path.join(stack.music, 'sources'));
  ffmpeg('-i', source, '-c:a', 'pcm_s16le', '-metadata', 'title=Sweep source', '-metadata', 'album=Sources', '-metadata', 'artist=Sweep',
    path.join(stack.music, 'sources', 'sweep.wav'));
  const bounds = [0, ...CUTS, Math.round(SWEEP_SECONDS * RATE)];
  for (const [format, { ext, args }] of Object.entries(FORMATS)) {
    const dir = path.join(stack.music, `seam-${format}`);
    mkdirSync(dir);
    for (let n = 1; n <= 3; n++) {
      ffmpeg('-i', source, '-af', `atrim=start_sample=${bounds[n - 1]}:end_sample=${bounds[n]},asetpts=PTS-STARTPTS`, ...args,
        '-metadata', `title=Seam ${format} ${n}`, '-metadata', `album=Seam ${format}`, '-metadata', 'artist=Sweep',
        '-metadata', `track=${n}`, path.join(dir, `${n}.${ext}`));
    }
  }
  // Two steady tones on two albums, for the crossfade.
  const fades = path.join(stack.music, 'fades');
  mkdirSync(fades);
  for (const [name, hz, album] of [['A', 440, 'First Album'], ['B', 660, 'Second Album']]) {
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=${hz}:sample_rate=${RATE}:duration=12`, '-af', 'volume=0.5', '-ac', '2', '-c:a', 'flac',
      '-metadata', `title=Fade ${name}`, '-metadata', `album=${album}`, '-metadata', 'artist=Tones', path.join(fades, `${name}.flac`));
  }
  // Index the folder through the API.
  const login = await fetch(`${stack.url}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin: stack.url }, body: JSON.stringify(ADMIN),
  });
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const scan = await fetch(`${stack.url}/api/admin/scan`, { method: 'POST', headers: { cookie, origin: stack.url } });
  assert.equal(scan.status, 202);
  for (let i = 0; i < 300; i++) {
    const status = await (await fetch(`${stack.url}/api/admin/scan`, { headers: { cookie } })).json();
    if (status.job?.status === 'done') {
      assert.equal(status.job.progress.added, 15, JSON.stringify(status.job.progress));
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (Object.keys(results).length) console.log(`seams:\n${JSON.stringify(results, null, 1)}`);
  await stack?.stop();
});

/**
 * Records channel 0 of everything the page sends to the speakers, sample-exact: every connection to an
 * AudioDestinationNode goes through a gain node that also feeds an AudioWorklet on the audio thread, which posts
 * each 128-frame quantum with its frame number. Test instrumentation only (the context bypasses the page's CSP to
 * load the worklet from a blob).
 */
function installTap() {
  // The decoded buffers the player starts, to compare with the files decoded afresh.
  window.buffers = [];
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (...args) {
    window.buffers.push(this.buffer);
    return start.apply(this, args);
  };
  const connect = AudioNode.prototype.connect;
  const processor = `registerProcessor('tap', class extends AudioWorkletProcessor {
    process(inputs) {
      const input = inputs[0][0];
      if (input) this.port.postMessage({ frame: currentFrame, samples: input.slice() });
      return true;
    }
  });`;
  AudioNode.prototype.connect = function (target, ...rest) {
    if (!(target instanceof AudioDestinationNode)) return connect.call(this, target, ...rest);
    const context = this.context;
    if (!context.tapBus) {
      const bus = context.createGain();
      connect.call(bus, target);
      context.tapBus = bus;
      const tap = { context, quanta: [], ready: null };
      window.tap = tap;
      const url = URL.createObjectURL(new Blob([processor], { type: 'text/javascript' }));
      tap.ready = context.audioWorklet.addModule(url).then(() => {
        const node = new AudioWorkletNode(context, 'tap', { numberOfInputs: 1, numberOfOutputs: 0 });
        node.port.onmessage = ({ data }) => window.tapOn && tap.quanta.push(data);
        connect.call(bus, node);
      });
    }
    return connect.call(this, context.tapBus, ...rest);
  };
}

/** The recording as one array, from the first quantum recorded; quanta missing (none expected) stay silent. */
function recordingOf(tap) {
  const { quanta } = tap;
  if (!quanta.length) return new Float32Array(0);
  const first = quanta[0].frame;
  const out = new Float32Array(quanta[quanta.length - 1].frame - first + 128);
  for (const q of quanta) out.set(q.samples, q.frame - first);
  return out;
}

/** A signed-in admin page with the player's settings as given, and the tap installed. */
async function playerPage(settings) {
  const context = await stack.browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 800 }, bypassCSP: true });
  await context.addInitScript(installTap);
  await context.addInitScript(`window.recordingOf = ${recordingOf.toString()}`);
  await context.addInitScript((state) => {
    if (!sessionStorage.getItem('seeded')) {
      localStorage.setItem('fermata.player.v1', JSON.stringify({ queue: [], index: -1, volume: 1, muted: false, normalise: false, ...state }));
      sessionStorage.setItem('seeded', '1');
    }
  }, settings);
  const page = await openPage(context, problems);
  await page.goto('/login');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Songs' }).waitFor();
  return page;
}

/** Plays the songs listed by `filter` (by title), from `first`, recording until `title` has played `seconds`. */
async function playAndRecord(page, filter, first, title, seconds) {
  await page.goto(`/?${new URLSearchParams({ ...filter, sort: 'title' })}`);
  await page.getByRole('button', { name: `Play ${first}` }).click();
  await page.waitForFunction(() => window.tap);
  await page.evaluate(() => window.tap.ready);
  await page.evaluate(() => (window.tapOn = true));
  await page.waitForFunction(
    ([t, s]) => {
      const bar = document.querySelector('[data-player]');
      return document.querySelector('[data-player-title]')?.textContent === t && Number(bar?.dataset.position) >= s;
    },
    [title, seconds],
    { timeout: 30000, polling: 50 },
  );
  await page.evaluate(() => (window.tapOn = false));
}

/**
 * In the page: decodes the three tracks of `format` as the player's context does, then, around each seam, finds
 * where the decoded tracks back to back line up best with the recording and measures there: the largest sample
 * difference, the longest run of silence, and the largest second difference (a click or a cut shows as one)
 * against the same measure on the decoded tracks themselves. Also the codec's own error against the source sweep,
 * at the cuts and elsewhere.
 */
async function measureSeams({ format, cuts }) {
  {
    const { context } = window.tap;
    const recording = window.recordingOf(window.tap);
    const list = await (await fetch(`/api/music/songs?album=${encodeURIComponent(`Seam ${format}`)}&limit=10`)).json();
    const songs = list.items.filter((s) => s.album.name === `Seam ${format}`).sort((a, b) => a.track - b.track);
    const decoder = new OfflineAudioContext(2, 1, context.sampleRate);
    const tracks = [];
    for (const song of songs) {
      tracks.push((await decoder.decodeAudioData(await (await fetch(song.stream_url)).arrayBuffer())).getChannelData(0));
    }
    const W = 2400;
    const d2 = (x, i) => Math.abs(x[i + 1] - 2 * x[i] + x[i - 1]);
    const seams = [];
    for (let k = 0; k < 2; k++) {
      const ref = new Float32Array(2 * W);
      ref.set(tracks[k].subarray(tracks[k].length - W), 0);
      ref.set(tracks[k + 1].subarray(0, W), W);
      // Coarse: a 512-sample stretch across the seam, every 4th position; then every position nearby, whole window.
      const sse = (p, from, to) => {
        let e = 0;
        for (let j = from; j < to; j++) {
          const d = recording[p + j] - ref[j];
          e += d * d;
        }
        return e;
      };
      let best = -1;
      let bestE = Infinity;
      for (let p = 0; p + 2 * W < recording.length; p += 4) {
        const e = sse(p, W - 256, W + 256);
        if (e < bestE) [best, bestE] = [p, e];
      }
      let q = best;
      bestE = Infinity;
      for (let p = Math.max(0, best - 8); p <= best + 8 && p + 2 * W < recording.length; p++) {
        const e = sse(p, 0, 2 * W);
        if (e < bestE) [q, bestE] = [p, e];
      }
      let maxDiff = 0;
      for (let j = 0; j < 2 * W; j++) maxDiff = Math.max(maxDiff, Math.abs(recording[q + j] - ref[j]));
      let silence = 0;
      let run = 0;
      for (let j = 0; j < 2 * W; j++) {
        run = Math.abs(recording[q + j]) < 1e-4 ? run + 1 : 0;
        silence = Math.max(silence, run);
      }
      let clickRec = 0;
      let clickRef = 0;
      for (let j = 1; j < 2 * W - 1; j++) {
        clickRec = Math.max(clickRec, d2(recording.subarray(q), j));
        clickRef = Math.max(clickRef, d2(ref, j));
      }
      seams.push({ maxDiff, silenceMs: (silence / context.sampleRate) * 1000, click: clickRec / clickRef });
    }
    // The codec's own error: the decoded tracks back to back against the source sweep (the 16-bit WAV they were
    // cut from, in the library as its own song), within 1,024 samples of a cut and elsewhere.
    const sources = await (await fetch('/api/music/songs?album=Sources&limit=1')).json();
    const original = (await decoder.decodeAudioData(await (await fetch(sources.items[0].stream_url)).arrayBuffer())).getChannelData(0);
    const whole = new Float32Array(tracks.reduce((n, t) => n + t.length, 0));
    tracks.reduce((at, t) => (whole.set(t, at), at + t.length), 0);
    let atCuts = 0;
    let elsewhere = 0;
    const near = (n) => cuts.some((c) => Math.abs(n - c) < 1024);
    for (let n = 0; n < Math.min(whole.length, original.length); n++) {
      const e = Math.abs(whole[n] - original[n]);
      if (near(n)) atCuts = Math.max(atCuts, e);
      else elsewhere = Math.max(elsewhere, e);
    }
    // What the player decoded is exactly what decoding the files gives (it starts each buffer once, in order).
    const played = window.buffers.filter((b, i, all) => all.indexOf(b) === i);
    const buffersExact = played.length === 0 || played.every((b, i) => {
      const x = b.getChannelData(0);
      return x.length === tracks[i]?.length && x.every((v, n) => v === tracks[i][n]);
    });
    return { seams, buffersExact, lengths: tracks.map((t) => t.length), codecError: { atCuts, elsewhere }, rate: context.sampleRate };
  }
}


/** Plays the three `format` tracks in order with the player `settings`, and measures the seams. */
async function seamRun(format, settings) {
  const page = await playerPage(settings);
  await playAndRecord(page, { album: `Seam ${format}` }, `Seam ${format} 1`, `Seam ${format} 3`, 1);
  const measured = await page.evaluate(measureSeams, { format, cuts: CUTS });
  await page.context().close();
  return measured;
}

/**
 * Whether every seam is clean: no silence over 1 ms, and no discontinuity (second difference) more than 1.5× the
 * largest in the decoded tracks back to back around it (the known-clean reference, codec error included).
 */
const seamless = (m) => m.seams.every((s) => s.silenceMs <= 1 && s.click <= 1.5);

describe('gapless playback', () => {
  for (const format of Object.keys(FORMATS)) {
    it(`plays ${format} tracks cut from one sweep without a gap or a click; the element-only player does not`, async () => {
      const gapless = await seamRun(format, { gapless: true, crossfade: 0 });
      const plain = await seamRun(format, { gapless: false, crossfade: 0 });
      results[format] = { gapless, elementOnly: plain };
      assert.ok(seamless(gapless), `gapless ${format}: ${JSON.stringify(gapless.seams)}`);
      assert.ok(!seamless(plain), `the element-only player must fail the same check: ${JSON.stringify(plain.seams)}`);
      assert.ok(gapless.buffersExact, 'the player plays exactly what decoding the files gives');
      if (format === 'flac') {
        assert.equal(gapless.codecError.atCuts, 0, 'FLAC tracks back to back are the source, bit for bit, at the cuts');
        assert.equal(gapless.codecError.elsewhere, 0, 'FLAC tracks back to back are the source, bit for bit');
      }
      // Encoder delay and padding trimmed: the decoded lengths are the cut lengths. Chromium trims the LAME
      // header's and Opus's exactly; AAC's edit list only to within a few samples (measured: 120000 for 120001
      // and 120006), which the seam check above shows is inaudible.
      const cut = [CUTS[0], CUTS[1] - CUTS[0], SWEEP_SECONDS * RATE - CUTS[1]];
      if (format === 'aac') gapless.lengths.forEach((n, i) => assert.ok(Math.abs(n - cut[i]) <= 16, `aac lengths ${gapless.lengths}`));
      else assert.deepEqual(gapless.lengths, cut, `${format}: decoded lengths are the cut lengths`);
    });
  }

  it('keeps an album in order gapless even with a crossfade set', async () => {
    const measured = await seamRun('flac', { gapless: true, crossfade: 5 });
    assert.ok(seamless(measured), JSON.stringify(measured.seams));
  });

  it('crossfades two albums for 5 s (±50 ms) with equal power', async () => {
    const page = await playerPage({ gapless: true, crossfade: 5 });
    await playAndRecord(page, { artist: 'Tones' }, 'Fade A', 'Fade B', 6);
    const fade = await page.evaluate(() => {
      const { context } = window.tap;
      const rate = context.sampleRate;
      const x = window.recordingOf(window.tap);
      // The amplitude of each tone over Hann-windowed 40 ms windows every 10 ms (Goertzel), so one tone barely
      // leaks into the other's measure.
      const n = Math.round(rate * 0.04);
      const hann = Float32Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
      const amplitude = (hz, from) => {
        const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate);
        let [s1, s2] = [0, 0];
        for (let i = 0; i < n; i++) [s1, s2] = [x[from + i] * hann[i] + coeff * s1 - s2, s1];
        return (4 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2))) / n;
      };
      const points = [];
      for (let from = 0; from + n < x.length; from += Math.round(rate * 0.01)) points.push({ t: from / rate, a: amplitude(440, from), b: amplitude(660, from) });
      const median = (v) => v.slice().sort((p, q) => p - q)[Math.floor(v.length / 2)];
      const steadyA = median(points.slice(20, 120).map((p) => p.a));
      const steadyB = median(points.slice(-100).map((p) => p.b));
      const norm = points.map((p) => ({ t: p.t, a: p.a / steadyA, b: p.b / steadyB }));
      // The fade's progress, atan2(b, a), runs linearly from 0 to π/2: its slope gives the length.
      const mid = norm.filter((p) => p.a > 0.05 && p.b > 0.05).map((p) => ({ t: p.t, th: Math.atan2(p.b, p.a) }))
        .filter((p) => p.th > 0.2 && p.th < Math.PI / 2 - 0.2);
      const mt = mid.reduce((s, p) => s + p.t, 0) / mid.length;
      const mth = mid.reduce((s, p) => s + p.th, 0) / mid.length;
      const slope = mid.reduce((s, p) => s + (p.t - mt) * (p.th - mth), 0) / mid.reduce((s, p) => s + (p.t - mt) ** 2, 0);
      const power = norm.filter((p) => p.a > 0.1 && p.b > 0.1).map((p) => p.a * p.a + p.b * p.b);
      return { seconds: Math.PI / 2 / slope, powerMin: Math.min(...power), powerMax: Math.max(...power), points: mid.length };
    });
    results.crossfade = fade;
    await page.context().close();
    assert.ok(Math.abs(fade.seconds - 5) <= 0.05, `a 5 s crossfade lasted ${fade.seconds.toFixed(3)} s`);
    assert.ok(fade.powerMin > 0.9 && fade.powerMax < 1.1, `equal power: a² + b² from ${fade.powerMin} to ${fade.powerMax}`);
  });

  it('raised no page errors', () => {
    assert.deepEqual(problems, []);
  });
});

