//! Listening by sound (#22): tempo, musical key and a fixed-length vector describing how a song sounds, measured
//! from its decoded audio while [`crate::analysis`] decodes it for peaks and loudness (one decode for all).
//!
//! The samples (mixed to mono, at the file's own rate) go through two short-time spectra whose lengths are set in
//! seconds, so a 44.1 kHz and an 8 kHz file of the same music measure alike:
//! - a ~23 ms frame every ~6 ms: spectral flux (the onset envelope tempo is read from), the timbre (MFCCs over a
//!   mel filter bank), the spectral shape (centroid, roll-off, flatness), the zero-crossing frequency and the level;
//! - a frame 8 times longer (~186 ms, 5 Hz bins, fine enough for semitones from 65 Hz) every ~46 ms: the chroma
//!   (energy per pitch class) the key is read from.
//!
//! Memory stays bounded whatever the song's length: running sums, a level histogram, and an onset envelope of at
//! most [`MAX_ENVELOPE_SECONDS`].
//!
//! Tempo: autocorrelation of the onset envelope (through the FFT), the strongest period between 60 and 200 BPM,
//! halved while half of it is nearly as periodic (a click at 174 BPM repeats every two beats too, and a song read
//! at 87 BPM is an octave error), then refined on multiples of the period (the 16th beat pins it to a 16th of an
//! envelope step: ±0.5 BPM). Key: the song's chroma correlated with the Krumhansl–Kessler profiles of the 24
//! major and minor keys.
//!
//! The vector ([`DIMS`] numbers) maps every measure through a fixed range onto -1..1 (fixed, so a vector means the
//! same in every library and never needs recomputing when the library changes), weighted so each group (timbre,
//! spectral shape, rhythm, harmony, loudness) weighs what the table in [`features`] says however many numbers it
//! has, and stored as signed bytes: squared euclidean distance between two vectors is how different they sound.

use std::{fmt, str::FromStr, sync::Arc};

use realfft::{RealFftPlanner, RealToComplex, num_complex::Complex};

/// Numbers in a sonic vector.
pub const DIMS: usize = 28;

/// Bumped when the measures change, so a backfill knows which songs to analyse again.
pub const VERSION: i16 = 1;

/// Longest stretch of onset envelope kept for the tempo (the rest of a long song changes nothing measurable).
pub const MAX_ENVELOPE_SECONDS: usize = 600;

/// Frames quieter than this (dBFS, RMS) are silence: no timbre, no chroma.
const SILENCE_DB: f32 = -60.0;

/// Tempo range, in BPM.
const MIN_BPM: f32 = 60.0;
const MAX_BPM: f32 = 200.0;

/// The least correlation with a key profile for a key to be named (chord progressions fit 0.85–0.97, a click
/// track's single pitch 0.34).
const MIN_KEY_FIT: f32 = 0.5;

const MEL_BANDS: usize = 24;
const MFCCS: usize = 12;

/// What the analysis found.
#[derive(Debug, Clone, PartialEq)]
pub struct Sonic {
    /// Beats per minute and how periodic the onsets are at that tempo (0..1); `None` when no pulse was found.
    pub tempo: Option<Tempo>,
    /// The key and how well the chroma fits its profile (a correlation, 0..1); `None` where no key fits.
    pub key: Option<(Key, f32)>,
    pub vector: Vector,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tempo {
    pub bpm: f32,
    pub confidence: f32,
}

/// A song's sound as [`DIMS`] signed bytes (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vector(pub [i8; DIMS]);

impl Vector {
    /// Squared euclidean distance: 0 for the same sound, larger for more different ones.
    pub fn distance(&self, other: &Self) -> u32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| (i32::from(*a) - i32::from(*b)).unsigned_abs().pow(2)).sum()
    }

    pub fn to_bytes(self) -> Vec<u8> {
        self.0.iter().map(|v| v.to_ne_bytes()[0]).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; DIMS] = bytes.try_into().ok()?;
        Some(Self(bytes.map(|b| i8::from_ne_bytes([b]))))
    }

    /// The point between several vectors (a radio seeded by an artist or a playlist starts from there).
    pub fn mean<'a>(vectors: impl IntoIterator<Item = &'a Self>) -> Option<Self> {
        let mut sums = [0i64; DIMS];
        let mut count = 0i64;
        for vector in vectors {
            for (sum, v) in sums.iter_mut().zip(vector.0) {
                *sum += i64::from(v);
            }
            count += 1;
        }
        (count > 0).then(|| Self(sums.map(|s| (s as f64 / count as f64).round().clamp(-127.0, 127.0) as i8)))
    }

    /// `self` moved `weight` (0..1) of the way towards `other`, or away from it for a negative weight.
    pub fn towards(&self, other: &Self, weight: f32) -> Self {
        let mut out = [0i8; DIMS];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            let v = f32::from(*a) + weight * (f32::from(*b) - f32::from(*a));
            *o = v.round().clamp(-127.0, 127.0) as i8;
        }
        Self(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Major,
    Minor,
}

/// A musical key: a tonic pitch class (0 = C … 11 = B) and a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub tonic: u8,
    pub mode: Mode,
}

const MAJOR_NAMES: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const MINOR_NAMES: [&str; 12] = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"];

impl Key {
    pub fn new(tonic: u8, mode: Mode) -> Self {
        Self { tonic: tonic % 12, mode }
    }

    /// As stored (`songs.musical_key`): tonic × 2, plus 1 for minor.
    pub fn code(self) -> i16 {
        i16::from(self.tonic) * 2 + i16::from(self.mode == Mode::Minor)
    }

    pub fn from_code(code: i16) -> Option<Self> {
        let code = u8::try_from(code).ok().filter(|c| *c < 24)?;
        Some(Self::new(code / 2, if code % 2 == 1 { Mode::Minor } else { Mode::Major }))
    }

    /// The major key sharing this minor key's notes, or the other way round (C major and A minor).
    pub fn relative(self) -> Self {
        match self.mode {
            Mode::Major => Self::new(self.tonic + 9, Mode::Minor),
            Mode::Minor => Self::new(self.tonic + 3, Mode::Major),
        }
    }

    /// Camelot wheel notation DJs mix by: neighbouring numbers and the same number are harmonic.
    pub fn camelot(self) -> String {
        let major_tonic = match self.mode {
            Mode::Major => self.tonic,
            Mode::Minor => self.relative().tonic,
        };
        let number = (u32::from(major_tonic) * 7 + 7) % 12 + 1;
        format!("{number}{}", if self.mode == Mode::Major { 'B' } else { 'A' })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            Mode::Major => write!(f, "{} major", MAJOR_NAMES[usize::from(self.tonic)]),
            Mode::Minor => write!(f, "{} minor", MINOR_NAMES[usize::from(self.tonic)]),
        }
    }
}

/// A key as people write it: "A minor", "Am", "F# major", "F#", "E♭ minor", "Ebm", or Camelot "8A".
impl FromStr for Key {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let text = text.trim().replace('♯', "#").replace('♭', "b");
        if let Some(number) = text.strip_suffix(['A', 'B']).and_then(|n| n.parse::<u32>().ok()) {
            if !(1..=12).contains(&number) {
                return Err(());
            }
            // Inverse of `camelot`: tonic × 7 ≡ number - 8 (mod 12), and 7 is its own inverse mod 12.
            let major_tonic = ((number + 12 - 8) * 7 % 12) as u8;
            let major = Self::new(major_tonic, Mode::Major);
            return Ok(if text.ends_with('A') { major.relative() } else { major });
        }
        let mut chars = text.chars();
        let letter = chars.next().ok_or(())?.to_ascii_uppercase();
        let mut tonic: i32 = match letter {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return Err(()),
        };
        let mut rest = chars.as_str();
        if let Some(r) = rest.strip_prefix('#') {
            tonic += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('b') {
            tonic -= 1;
            rest = r;
        }
        let mode = match rest.trim().to_ascii_lowercase().as_str() {
            "" | "maj" | "major" => Mode::Major,
            "m" | "min" | "minor" => Mode::Minor,
            _ => return Err(()),
        };
        Ok(Self::new(tonic.rem_euclid(12) as u8, mode))
    }
}

/// For `#[validate(custom(...))]`: a key as [`Key`]'s `FromStr` reads it.
pub fn key_text(text: &str) -> Result<(), validator::ValidationError> {
    text.parse::<Key>().map(drop).map_err(|()| {
        validator::ValidationError::new("key").with_message("is not a key such as \"A minor\", \"F#\" or \"8A\"".into())
    })
}

/// Why a song has no sonic analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unanalysable {
    #[error("the audio is silent or too short to describe")]
    Silent,
}

/// Measures a song from its samples, pushed as they are decoded.
pub struct Analyser {
    rate: f32,
    short: usize,
    hop: usize,
    long: usize,
    short_fft: Arc<dyn RealToComplex<f32>>,
    long_fft: Arc<dyn RealToComplex<f32>>,
    short_window: Vec<f32>,
    long_window: Vec<f32>,
    /// Hann window sums, to read spectra as sine amplitudes whatever the frame length.
    short_gain: f32,
    long_gain: f32,
    samples: Vec<f32>,
    since_hop: usize,
    hops: u64,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    long_frame: Vec<f32>,
    long_spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    long_scratch: Vec<Complex<f32>>,
    magnitudes: Vec<f32>,
    previous_log: Vec<f32>,
    /// Bins spectral flux sums over (up to 11 kHz).
    flux_bins: usize,
    /// (first bin, weights) per mel band.
    mel: Vec<(usize, Vec<f32>)>,
    /// Bins counted for flatness (60 Hz – 8 kHz).
    flat_bins: (usize, usize),
    /// (bin, pitch class) for the chroma's bins.
    chroma_bins: Vec<(usize, usize)>,
    /// DCT-II (orthonormal) rows for coefficients 1..=12 of the log mel energies (0, the level, is measured
    /// elsewhere), computed once rather than per frame.
    dct: [[f64; MEL_BANDS]; MFCCS],
    envelope: Vec<f32>,
    max_envelope: usize,
    stats: Stats,
    /// Frames per 1 dB of RMS level from -100 to 0 dBFS.
    levels: [u32; 101],
    chroma: [f64; 12],
}

#[derive(Default)]
struct Stats {
    frames: u64,
    mfcc: [f64; MFCCS],
    mfcc_squares: [f64; MFCCS],
    centroid: f64,
    centroid_squares: f64,
    rolloff: f64,
    flatness: f64,
    crossings: f64,
}

impl Analyser {
    pub fn new(rate: u32) -> Self {
        let rate_f = rate.max(1) as f32;
        // ~23 ms: 1024 samples at 44.1 and 48 kHz, 512 at 22.05 kHz, 256 at 8 kHz.
        let short = (rate_f * 0.023).log2().round().exp2().clamp(64.0, 4096.0) as usize;
        let long = short * 8;
        let mut planner = RealFftPlanner::<f32>::new();
        let short_fft = planner.plan_fft_forward(short);
        let long_fft = planner.plan_fft_forward(long);
        let hann = |n: usize| -> Vec<f32> {
            (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos()).collect()
        };
        let short_window = hann(short);
        let long_window = hann(long);
        let bin_hz = |n: usize| rate_f / n as f32;
        let bins = short / 2 + 1;
        let flux_bins = ((11_000.0 / bin_hz(short)) as usize).clamp(1, bins);
        let flat_bins = (((60.0 / bin_hz(short)) as usize).max(1), ((8_000.0 / bin_hz(short)) as usize).clamp(2, bins));
        let mel = mel_bank(rate_f, short, 60.0, 8_000f32.min(rate_f * 0.48));
        let chroma_bins = (1..long / 2)
            .filter_map(|k| {
                let hz = k as f32 * bin_hz(long);
                if !(65.0..=2_100.0).contains(&hz) || hz > rate_f * 0.45 {
                    return None;
                }
                let midi = 69.0 + 12.0 * (hz / 440.0).log2();
                Some((k, (midi.round() as i64).rem_euclid(12) as usize))
            })
            .collect();
        let hop = short / 4;
        Self {
            rate: rate_f,
            short,
            hop,
            long,
            scratch: short_fft.make_scratch_vec(),
            long_scratch: long_fft.make_scratch_vec(),
            spectrum: short_fft.make_output_vec(),
            long_spectrum: long_fft.make_output_vec(),
            frame: vec![0.0; short],
            long_frame: vec![0.0; long],
            short_gain: short_window.iter().sum::<f32>() / 2.0,
            long_gain: long_window.iter().sum::<f32>() / 2.0,
            short_fft,
            long_fft,
            short_window,
            long_window,
            samples: Vec::with_capacity(long * 3),
            since_hop: 0,
            hops: 0,
            magnitudes: vec![0.0; bins],
            previous_log: vec![0.0; flux_bins],
            flux_bins,
            mel,
            flat_bins,
            chroma_bins,
            dct: std::array::from_fn(|i| {
                std::array::from_fn(|b| {
                    let n = (i + 1) as f64;
                    (std::f64::consts::PI * n * (b as f64 + 0.5) / MEL_BANDS as f64).cos()
                        * (2.0 / MEL_BANDS as f64).sqrt()
                })
            }),
            envelope: Vec::new(),
            max_envelope: (rate_f / hop as f32 * MAX_ENVELOPE_SECONDS as f32) as usize,
            stats: Stats::default(),
            levels: [0; 101],
            chroma: [0.0; 12],
        }
    }

    /// Interleaved samples of `channels` channels, mixed to mono.
    pub fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let scale = 1.0 / channels as f32;
        for frame in samples.chunks_exact(channels) {
            self.push(frame.iter().sum::<f32>() * scale);
        }
    }

    pub fn push(&mut self, sample: f32) {
        self.samples.push(if sample.is_finite() { sample } else { 0.0 });
        self.since_hop += 1;
        if self.since_hop < self.hop {
            return;
        }
        self.since_hop = 0;
        if self.samples.len() >= self.short {
            self.short_frame();
            self.hops += 1;
            if self.hops.is_multiple_of(8) && self.samples.len() >= self.long {
                self.long_frame();
            }
        }
        if self.samples.len() > self.long * 3 {
            let excess = self.samples.len() - self.long;
            self.samples.drain(..excess);
        }
    }

    fn short_frame(&mut self) {
        let recent = &self.samples[self.samples.len() - self.short..];
        let mut energy = 0f32;
        let mut crossings = 0u32;
        for (i, ((out, s), w)) in self.frame.iter_mut().zip(recent).zip(&self.short_window).enumerate() {
            *out = s * w;
            energy += s * s;
            if i > 0 && (recent[i - 1] >= 0.0) != (*s >= 0.0) {
                crossings += 1;
            }
        }
        let level_db = 10.0 * (energy / self.short as f32 + 1e-12).log10();
        self.short_fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .expect("sizes match");
        for (m, c) in self.magnitudes.iter_mut().zip(&self.spectrum) {
            *m = c.norm() / self.short_gain;
        }
        // Onset strength: how much louder each bin got, on a compressed scale.
        let mut flux = 0f32;
        for (previous, m) in self.previous_log.iter_mut().zip(&self.magnitudes[..self.flux_bins]) {
            let log = (1.0 + 1000.0 * m).ln();
            flux += (log - *previous).max(0.0);
            *previous = log;
        }
        if self.envelope.len() < self.max_envelope {
            self.envelope.push(flux);
        }
        if level_db < SILENCE_DB {
            return;
        }
        self.levels[(level_db.clamp(-100.0, 0.0) + 100.0) as usize] += 1;

        let bin_hz = self.rate / self.short as f32;
        let (mut total, mut weighted) = (0f64, 0f64);
        for (k, m) in self.magnitudes.iter().enumerate().skip(1) {
            let power = f64::from(m * m);
            total += power;
            weighted += power * f64::from(k as f32 * bin_hz);
        }
        if total <= 0.0 {
            return;
        }
        let centroid = (weighted / total).max(20.0).log2();
        let mut rolloff_bin = self.magnitudes.len() - 1;
        let mut running = 0f64;
        for (k, m) in self.magnitudes.iter().enumerate().skip(1) {
            running += f64::from(m * m);
            if running >= 0.85 * total {
                rolloff_bin = k;
                break;
            }
        }
        let rolloff = f64::from((rolloff_bin as f32 * bin_hz).max(20.0)).log2();
        let (lo, hi) = self.flat_bins;
        let band = &self.magnitudes[lo..hi.max(lo + 1).min(self.magnitudes.len())];
        let (log_sum, sum) = band.iter().fold((0f64, 0f64), |(l, s), m| {
            let p = f64::from(m * m) + 1e-12;
            (l + p.ln(), s + p)
        });
        let flatness = (log_sum / band.len() as f64).exp() / (sum / band.len() as f64);
        let crossing_hz = f64::from(crossings) * f64::from(self.rate) / (2.0 * self.short as f64);

        let mut bands = [0f64; MEL_BANDS];
        for (band, (first, weights)) in bands.iter_mut().zip(&self.mel) {
            let energy: f64 = weights.iter().zip(&self.magnitudes[*first..]).map(|(w, m)| f64::from(w * m * m)).sum();
            *band = 10.0 * (energy + 1e-10).log10();
        }
        let stats = &mut self.stats;
        stats.frames += 1;
        for (i, row) in self.dct.iter().enumerate() {
            let c: f64 = bands.iter().zip(row).map(|(e, w)| e * w).sum();
            stats.mfcc[i] += c;
            stats.mfcc_squares[i] += c * c;
        }
        stats.centroid += centroid;
        stats.centroid_squares += centroid * centroid;
        stats.rolloff += rolloff;
        stats.flatness += flatness;
        stats.crossings += crossing_hz.max(20.0).log2();
    }

    fn long_frame(&mut self) {
        let recent = &self.samples[self.samples.len() - self.long..];
        let mut energy = 0f32;
        for ((out, s), w) in self.long_frame.iter_mut().zip(recent).zip(&self.long_window) {
            *out = s * w;
            energy += s * s;
        }
        if 10.0 * (energy / self.long as f32 + 1e-12).log10() < SILENCE_DB {
            return;
        }
        self.long_fft
            .process_with_scratch(&mut self.long_frame, &mut self.long_spectrum, &mut self.long_scratch)
            .expect("sizes match");
        let mut chroma = [0f64; 12];
        for (k, pc) in &self.chroma_bins {
            let m = self.long_spectrum[*k].norm() / self.long_gain;
            chroma[*pc] += f64::from(m * m);
        }
        // Each moment counts alike, loud or quiet.
        let max = chroma.iter().copied().fold(0.0, f64::max);
        if max > 1e-9 {
            for (sum, c) in self.chroma.iter_mut().zip(chroma) {
                *sum += c / max;
            }
        }
    }

    /// What the song measured; [`Unanalysable::Silent`] for a song under a second long or with less than a
    /// quarter of a second of sound in all (a sparse click track has about a second in 15).
    pub fn finish(self) -> Result<Sonic, Unanalysable> {
        let frames_per_second = self.rate / self.hop as f32;
        if (self.hops as f32) < frames_per_second || (self.stats.frames as f32) < frames_per_second / 4.0 {
            return Err(Unanalysable::Silent);
        }
        let tempo = tempo(&self.envelope, frames_per_second);
        let key = key(&self.chroma);
        let onsets = onset_rate(&self.envelope, frames_per_second);
        let vector = features(&self.stats, tempo, key, onsets, &self.levels);
        // Drums, noise and speech fit no key profile well; a key is named only where one fits.
        let key = key.filter(|(_, fit)| *fit >= MIN_KEY_FIT);
        Ok(Sonic { tempo, key, vector })
    }
}

/// Triangular filters evenly spaced in mels between `low` and `high` Hz, over an `n`-point spectrum.
fn mel_bank(rate: f32, n: usize, low: f32, high: f32) -> Vec<(usize, Vec<f32>)> {
    let mel = |hz: f32| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |mel: f32| 700.0 * (10f32.powf(mel / 2595.0) - 1.0);
    let (lo, hi) = (mel(low), mel(high.max(low * 2.0)));
    let edges: Vec<f32> = (0..MEL_BANDS + 2).map(|i| hz(lo + (hi - lo) * i as f32 / (MEL_BANDS + 1) as f32)).collect();
    let bin_hz = rate / n as f32;
    let bins = n / 2 + 1;
    (0..MEL_BANDS)
        .map(|b| {
            let (left, centre, right) = (edges[b], edges[b + 1], edges[b + 2]);
            let first = ((left / bin_hz).floor() as usize).min(bins - 1);
            let last = ((right / bin_hz).ceil() as usize).min(bins - 1);
            let mut weights: Vec<f32> = (first..=last)
                .map(|k| {
                    let f = k as f32 * bin_hz;
                    if f <= centre { (f - left) / (centre - left) } else { (right - f) / (right - centre) }.max(0.0)
                })
                .collect();
            // A band narrower than a bin (low bands of short frames) still reads the bin it falls in.
            if weights.iter().all(|w| *w == 0.0) {
                let nearest = ((centre / bin_hz).round() as usize).clamp(first, last);
                weights[nearest - first] = 1.0;
            }
            (first, weights)
        })
        .collect()
}

/// The onset envelope with its slow trend (a 1 s moving average) removed: what repeats, not how loud it is.
fn detrended(envelope: &[f32], rate: f32) -> Vec<f32> {
    let half = (rate / 2.0) as usize;
    let mut prefix = Vec::with_capacity(envelope.len() + 1);
    prefix.push(0f64);
    for v in envelope {
        prefix.push(prefix.last().expect("not empty") + f64::from(*v));
    }
    (0..envelope.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(envelope.len()));
            envelope[i] - ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// Autocorrelation (unbiased: each lag divided by the overlap it had) through the FFT.
fn autocorrelation(signal: &[f32], max_lag: usize) -> Vec<f32> {
    let n = signal.len();
    let size = (2 * n).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let mut input = vec![0f32; size];
    input[..n].copy_from_slice(signal);
    let mut spectrum = forward.make_output_vec();
    forward.process(&mut input, &mut spectrum).expect("sizes match");
    for c in &mut spectrum {
        *c = Complex::new(c.norm_sqr(), 0.0);
    }
    let mut output = inverse.make_output_vec();
    inverse.process(&mut spectrum, &mut output).expect("sizes match");
    (0..max_lag.min(n)).map(|lag| output[lag] / (size as f32 * (n - lag) as f32)).collect()
}

/// The highest point of `r` within `centre ± reach`, interpolated between lags by a parabola.
fn peak_near(r: &[f32], centre: f32, reach: f32) -> Option<f32> {
    let from = (centre - reach).floor().max(1.0) as usize;
    let to = ((centre + reach).ceil() as usize).min(r.len().checked_sub(2)?);
    let best = (from..=to).max_by(|a, b| r[*a].total_cmp(&r[*b]))?;
    let (a, b, c) = (r[best - 1], r[best], r[best + 1]);
    let denominator = a - 2.0 * b + c;
    let shift = if denominator.abs() > f32::EPSILON { (0.5 * (a - c) / denominator).clamp(-0.5, 0.5) } else { 0.0 };
    Some(best as f32 + shift)
}

fn tempo(envelope: &[f32], rate: f32) -> Option<Tempo> {
    if (envelope.len() as f32) < rate * 4.0 {
        return None;
    }
    let signal = detrended(envelope, rate);
    let min_lag = rate * 60.0 / MAX_BPM;
    let max_lag = rate * 60.0 / MIN_BPM;
    let r = autocorrelation(&signal, (max_lag * 17.0) as usize + 2);
    if r.first().is_none_or(|r0| *r0 <= 0.0) || r.len() < max_lag as usize + 2 {
        return None;
    }
    let value = |lag: f32| r[(lag.round() as usize).min(r.len() - 1)];
    let mut lag = (min_lag.ceil() as usize..=max_lag.floor() as usize).max_by(|a, b| r[*a].total_cmp(&r[*b]))? as f32;
    // Half the period nearly as periodic: the beat is the shorter one (clicks every beat also repeat every two).
    // Doubling a slow song to over 150 BPM needs stronger evidence than halving into a common tempo.
    while lag / 2.0 >= min_lag {
        let half = peak_near(&r, lag / 2.0, 1.5)?;
        let needed = if rate * 60.0 / half > 150.0 { 0.85 } else { 0.5 };
        if value(half) >= needed * value(lag) {
            lag = half;
        } else {
            break;
        }
    }
    let coarse = lag;
    for multiple in [2.0f32, 4.0, 8.0, 16.0] {
        let centre = coarse * multiple;
        // Refine only while the envelope holds that many periods at least four times over.
        if centre + multiple >= r.len() as f32 - 2.0 || centre * 4.0 > signal.len() as f32 {
            break;
        }
        if let Some(found) = peak_near(&r, lag * multiple, multiple * 0.5) {
            lag = found / multiple;
        }
    }
    let confidence = (value(coarse) / r[0]).clamp(0.0, 1.0);
    Some(Tempo { bpm: rate * 60.0 / lag, confidence })
}

/// Onsets per second: envelope peaks standing out from the song's own spread.
fn onset_rate(envelope: &[f32], rate: f32) -> f32 {
    if envelope.len() < 3 {
        return 0.0;
    }
    let n = envelope.len() as f32;
    let mean = envelope.iter().sum::<f32>() / n;
    let sd = (envelope.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    let threshold = mean + sd;
    let peaks = envelope.windows(3).filter(|w| w[1] > threshold && w[1] >= w[0] && w[1] > w[2]).count();
    peaks as f32 * rate / n
}

/// Krumhansl–Kessler key profiles (probe-tone ratings), tonic first.
const MAJOR_PROFILE: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

fn correlation(a: &[f64; 12], b: impl Fn(usize) -> f64) -> f64 {
    let mean_a = a.iter().sum::<f64>() / 12.0;
    let mean_b = (0..12).map(&b).sum::<f64>() / 12.0;
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (i, x) in a.iter().enumerate() {
        let (x, y) = (x - mean_a, b(i) - mean_b);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= 0.0 || bb <= 0.0 { 0.0 } else { ab / (aa * bb).sqrt() }
}

fn key(chroma: &[f64; 12]) -> Option<(Key, f32)> {
    if chroma.iter().sum::<f64>() <= 0.0 {
        return None;
    }
    let mut best: Option<(Key, f64)> = None;
    for tonic in 0..12u8 {
        for (mode, profile) in [(Mode::Major, &MAJOR_PROFILE), (Mode::Minor, &MINOR_PROFILE)] {
            let r = correlation(chroma, |pc| profile[(pc + 12 - usize::from(tonic)) % 12]);
            if best.is_none_or(|(_, b)| r > b) {
                best = Some((Key::new(tonic, mode), r));
            }
        }
    }
    best.map(|(key, r)| (key, r.clamp(0.0, 1.0) as f32))
}

/// `value` mapped linearly from `low..high` onto -1..1, clamped.
fn span(value: f64, low: f64, high: f64) -> f64 {
    ((value - low) / (high - low) * 2.0 - 1.0).clamp(-1.0, 1.0)
}

/// The level histogram's `fraction` percentile, in dBFS.
fn percentile(levels: &[u32; 101], fraction: f64) -> f64 {
    let total: u64 = levels.iter().map(|c| u64::from(*c)).sum();
    let target = (total as f64 * fraction).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, count) in levels.iter().enumerate() {
        seen += u64::from(*count);
        if seen >= target {
            return i as f64 - 100.0;
        }
    }
    0.0
}

fn features(stats: &Stats, tempo: Option<Tempo>, key: Option<(Key, f32)>, onsets: f32, levels: &[u32; 101]) -> Vector {
    let n = stats.frames.max(1) as f64;
    let mean = |sum: f64| sum / n;
    let sd = |sum: f64, squares: f64| (squares / n - (sum / n).powi(2)).max(0.0).sqrt();
    // Timbre: the spectral envelope's shape (MFCC means, then how much the first four move).
    let mut timbre = Vec::with_capacity(16);
    for i in 0..MFCCS {
        // Higher coefficients vary less; their scale shrinks so each uses the range.
        let scale = 40.0 / (1.0 + i as f64 * 0.5);
        timbre.push((mean(stats.mfcc[i]) / scale).tanh());
    }
    for i in 0..4 {
        timbre.push(span(sd(stats.mfcc[i], stats.mfcc_squares[i]), 0.0, 20.0));
    }
    let shape = [
        span(mean(stats.centroid), 200f64.log2(), 6_000f64.log2()),
        span(sd(stats.centroid, stats.centroid_squares), 0.0, 2.0),
        span(mean(stats.rolloff), 300f64.log2(), 12_000f64.log2()),
        span(mean(stats.flatness), 0.0, 0.6),
        span(mean(stats.crossings), 50f64.log2(), 5_000f64.log2()),
    ];
    let rhythm = [
        tempo.map_or(0.0, |t| span(f64::from(t.bpm).log2(), f64::from(MIN_BPM).log2(), f64::from(MAX_BPM).log2())),
        span(f64::from(tempo.map_or(0.0, |t| t.confidence)), 0.0, 1.0),
        span(f64::from(onsets), 0.0, 8.0),
    ];
    let harmony = [
        key.map_or(0.0, |(k, r)| f64::from(r) * if k.mode == Mode::Major { 1.0 } else { -1.0 }),
        span(f64::from(key.map_or(0.0, |(_, r)| r)), 0.0, 1.0),
    ];
    let loudness = [
        span(percentile(levels, 0.5), -50.0, -5.0),
        span(percentile(levels, 0.95) - percentile(levels, 0.1), 0.0, 40.0),
    ];
    let values = timbre.iter().chain(&shape).chain(&rhythm).chain(&harmony).chain(&loudness);
    let mut out = [0i8; DIMS];
    for ((out, v), weight) in out.iter_mut().zip(values).zip(weights()) {
        *out = (v * weight * 127.0).round().clamp(-127.0, 127.0) as i8;
    }
    Vector(out)
}

/// How much each group of numbers weighs in a distance (timbre 16 numbers, spectral shape 5, rhythm 3,
/// harmony 2, loudness 2), spread over its numbers: what each number is multiplied by.
fn weights() -> [f64; DIMS] {
    const GROUPS: [(usize, f64); 5] = [(16, 1.0), (5, 0.8), (3, 1.0), (2, 0.4), (2, 0.5)];
    let mut out = [0.0; DIMS];
    let mut i = 0;
    for (count, weight) in GROUPS {
        for _ in 0..count {
            out[i] = weight / (count as f64).sqrt();
            i += 1;
        }
    }
    out
}

/// The largest distance two vectors can be apart (every number at opposite ends of its range).
fn max_distance() -> f64 {
    weights().iter().map(|w| (2.0 * (w * 127.0).round()).powi(2)).sum()
}

/// 1 for the same sound, 0 for the most different two vectors can be (OpenSubsonic's `similarity`), from a
/// [`Vector::distance`].
pub fn similarity(distance: u32) -> f32 {
    (1.0 - (f64::from(distance) / max_distance()).sqrt()).clamp(0.0, 1.0) as f32
}

#[cfg(test)]
mod tests {
    use std::f32::consts::PI;

    use super::*;

    /// A deterministic noise source (xorshift), so tests measure the same signal every run.
    struct Noise(u32);

    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0 as f32 / u32::MAX as f32 * 2.0 - 1.0
        }
    }

    fn analyse(samples: &[f32], rate: u32) -> Result<Sonic, Unanalysable> {
        let mut analyser = Analyser::new(rate);
        for s in samples {
            analyser.push(*s);
        }
        analyser.finish()
    }

    /// 10 ms clicks (a decaying 1 kHz tone) on every beat, over quiet noise.
    fn clicks(bpm: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let mut noise = Noise(7);
        let period = 60.0 / bpm;
        (0..(seconds * rate as f32) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let since = t % period;
                let click = if since < 0.01 { (2.0 * PI * 1_000.0 * t).sin() * (-since * 300.0).exp() } else { 0.0 };
                0.8 * click + 0.003 * noise.next()
            })
            .collect()
    }

    fn midi_hz(note: i32) -> f32 {
        440.0 * 2f32.powf((note - 69) as f32 / 12.0)
    }

    /// Chords (MIDI notes), one per second, played by a tone with a few harmonics, `repeats` times.
    fn chords(progression: &[&[i32]], rate: u32, repeats: usize) -> Vec<f32> {
        let per_chord = rate as usize;
        let mut out = Vec::new();
        for _ in 0..repeats {
            for chord in progression {
                for i in 0..per_chord {
                    let t = i as f32 / rate as f32;
                    let envelope = (1.0 - t).max(0.0).powf(0.3);
                    let mut v = 0.0;
                    for note in *chord {
                        let f = midi_hz(*note);
                        for h in 1..=3 {
                            v += (2.0 * PI * f * h as f32 * t).sin() / (h * h) as f32;
                        }
                    }
                    out.push(0.15 * envelope * v);
                }
            }
        }
        out
    }

    #[test]
    fn click_tracks_measure_their_tempo_within_one_bpm_without_octave_errors() {
        for rate in [44_100, 22_050, 8_000] {
            for bpm in [90.0f32, 120.0, 128.0, 174.0] {
                let sonic = analyse(&clicks(bpm, rate, 30.0), rate).expect("clicks are sound");
                let tempo = sonic.tempo.expect("clicks have a tempo");
                assert!((tempo.bpm - bpm).abs() <= 1.0, "{bpm} BPM at {rate} Hz measured {}", tempo.bpm);
                assert!(tempo.confidence > 0.5, "{bpm} BPM: confidence {}", tempo.confidence);
            }
        }
    }

    #[test]
    fn clicks_in_digital_silence_are_sound() {
        let rate = 44_100;
        let clean: Vec<f32> = clicks(120.0, rate, 15.0).iter().map(|s| if s.abs() < 0.01 { 0.0 } else { *s }).collect();
        let tempo = analyse(&clean, rate).expect("sparse clicks are sound").tempo.expect("a tempo");
        assert!((tempo.bpm - 120.0).abs() <= 1.0, "{}", tempo.bpm);
    }

    #[test]
    fn chord_progressions_measure_their_key() {
        // I-IV-V-I in major; i-iv-V-i in (harmonic) minor. MIDI 60 is middle C.
        let c_major: &[&[i32]] = &[&[48, 64, 67, 72], &[53, 65, 69, 72], &[55, 62, 67, 71], &[48, 64, 67, 72]];
        let a_minor: &[&[i32]] = &[&[45, 60, 64, 69], &[50, 62, 65, 69], &[52, 59, 64, 68], &[45, 60, 64, 69]];
        let f_sharp_major: &[&[i32]] = &[&[54, 61, 66, 70], &[59, 63, 66, 71], &[49, 61, 65, 68], &[54, 61, 66, 70]];
        let e_flat_minor: &[&[i32]] = &[&[51, 58, 63, 66], &[56, 59, 63, 68], &[46, 58, 62, 65], &[51, 58, 63, 66]];
        for (progression, expected) in
            [(c_major, "C major"), (a_minor, "A minor"), (f_sharp_major, "F# major"), (e_flat_minor, "Eb minor")]
        {
            for rate in [44_100, 22_050] {
                let sonic = analyse(&chords(progression, rate, 4), rate).expect("chords are sound");
                let (key, fit) = sonic.key.expect("chords have a key");
                assert_eq!(key.to_string(), expected, "at {rate} Hz (fit {fit})");
                assert!(fit > 0.6, "{expected}: fit {fit}");
            }
        }
    }

    #[test]
    fn keys_read_and_write_as_people_and_djs_write_them() {
        for code in 0..24 {
            let key = Key::from_code(code).expect("a key");
            assert_eq!(key.code(), code);
            assert_eq!(key.to_string().parse::<Key>(), Ok(key));
            assert_eq!(key.camelot().parse::<Key>(), Ok(key), "{key} is {}", key.camelot());
        }
        let cases = [
            ("C major", "8B"),
            ("A minor", "8A"),
            ("G", "9B"),
            ("F#", "2B"),
            ("Gb major", "2B"),
            ("E♭ minor", "2A"),
            ("Ebm", "2A"),
            ("d#min", "2A"),
            ("B", "1B"),
            ("F minor", "4A"),
        ];
        for (text, camelot) in cases {
            assert_eq!(text.parse::<Key>().map(Key::camelot), Ok(camelot.to_string()), "{text}");
        }
        for bad in ["", "H", "C dorian", "13A", "0B", "Cmajorr", "8C"] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?}");
        }
        assert_eq!(Key::from_code(24), None);
        assert_eq!(Key::from_code(-1), None);
        assert_eq!("C".parse::<Key>().map(Key::relative), "Am".parse::<Key>());
    }

    #[test]
    fn silence_and_near_silence_are_not_described() {
        assert_eq!(analyse(&vec![0.0; 44_100 * 10], 44_100), Err(Unanalysable::Silent));
        let mut noise = Noise(3);
        let hiss: Vec<f32> = (0..44_100 * 10).map(|_| 0.0001 * noise.next()).collect();
        assert_eq!(analyse(&hiss, 44_100), Err(Unanalysable::Silent));
        assert_eq!(analyse(&clicks(120.0, 44_100, 0.5), 44_100), Err(Unanalysable::Silent));
        assert_eq!(analyse(&[f32::NAN; 1000], 44_100), Err(Unanalysable::Silent));
    }

    /// A family shares an instrument and a tempo; its songs differ in their notes.
    fn family_song(family: usize, song: usize, rate: u32) -> Vec<f32> {
        let bpm = [90.0f32, 128.0, 174.0, 110.0][family];
        let beat = 60.0 / bpm;
        let mut noise = Noise(11 + song as u32 * 31 + family as u32 * 7);
        let melody = [0, 3, 5, 7, 10, 12, 7, 5];
        let root = 45 + song as i32 * 2;
        (0..rate as usize * 20)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let n = (t / beat) as usize;
                let since = t - n as f32 * beat;
                let f = midi_hz(root + melody[(n + song) % melody.len()]);
                let phase = (f * since).fract();
                let v = match family {
                    // Soft sine plucks.
                    0 => (2.0 * PI * f * since).sin() * (-since * 4.0).exp(),
                    // A bright sawtooth with a short gate.
                    1 => (2.0 * phase - 1.0) * if since < beat * 0.5 { 1.0 } else { 0.0 },
                    // Noise hits: drums only.
                    2 => noise.next() * (-since * 25.0).exp(),
                    // A hollow square wave, held, quieter.
                    _ => 0.3 * if phase < 0.5 { 1.0 } else { -1.0 },
                };
                0.5 * v + 0.002 * noise.next()
            })
            .collect()
    }

    #[test]
    fn songs_sharing_an_instrument_and_a_tempo_are_each_others_nearest() {
        let rate = 22_050;
        let songs: Vec<(usize, Vector)> = (0..4)
            .flat_map(|family| (0..4).map(move |song| (family, song)))
            .map(|(family, song)| (family, analyse(&family_song(family, song, rate), rate).expect("sound").vector))
            .collect();
        let mut same_family = 0;
        for (i, (family, vector)) in songs.iter().enumerate() {
            let nearest = songs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .min_by_key(|(_, (_, other))| vector.distance(other))
                .map(|(_, (f, _))| *f);
            same_family += usize::from(nearest == Some(*family));
        }
        // Every song's nearest neighbour is from its own family.
        assert_eq!(same_family, songs.len());
    }

    #[test]
    fn vectors_round_trip_through_bytes_and_mix() {
        let a = Vector([10; DIMS]);
        let b = Vector([-10; DIMS]);
        assert_eq!(Vector::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!(Vector::from_bytes(&[1, 2, 3]), None);
        assert_eq!(a.distance(&b), 400 * DIMS as u32);
        assert_eq!(a.distance(&a), 0);
        assert_eq!(Vector::mean([&a, &b]), Some(Vector([0; DIMS])));
        assert_eq!(Vector::mean(std::iter::empty::<&Vector>()), None);
        assert_eq!(a.towards(&b, 0.5), Vector([0; DIMS]));
        assert_eq!(a.towards(&b, -0.5), Vector([20; DIMS]));
        assert_eq!(similarity(0), 1.0);
        let ends = |sign: f64| Vector(weights().map(|w| (sign * w * 127.0).round() as i8));
        assert_eq!(similarity(ends(1.0).distance(&ends(-1.0))), 0.0);
        assert!((0.4..0.6).contains(&similarity(ends(1.0).distance(&Vector([0; DIMS])))));
    }
}
