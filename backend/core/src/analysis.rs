//! Analysis of a stored song: decode it (symphonia) for the exact duration, waveform peaks the player
//! draws, EBU R128 integrated loudness and true peak (ebur128) for loudness normalisation, and tempo, key and the
//! sonic vector ([`crate::sonic`]) for listening by sound. One decode feeds all of them.

use std::{fs::File, path::Path};

use anyhow::{Context, bail};

use crate::sonic::{Analyser, Sonic, Unanalysable};
use symphonia::core::{
    audio::SampleBuffer, codecs::DecoderOptions, errors::Error as SymphoniaError, formats::FormatOptions,
    io::MediaSourceStream, meta::MetadataOptions, probe::Hint,
};

/// Number of waveform buckets: enough for a seek bar on a wide screen, under 1 KiB per song.
pub const PEAK_BUCKETS: usize = 800;

/// Sample rates the analysis measures: telephone speech up to the highest studio rate. Outside them a file is
/// refused: a stream claiming 1 Hz once made the per-slice peaks one float per sample (18 KB of memory per
/// byte of a silent FLAC), and below ~116 Hz the analyser's filter banks had no bins.
pub const RATES: std::ops::RangeInclusive<u32> = 8_000..=384_000;

/// The audio a file may hold for its size: a minute, then one second per 100 bytes (ten times the density of
/// 8 kbit/s speech; a 3-minute song at 128 kbit/s has 2.9 MB), at most 4 hours. Digital silence compresses to
/// almost nothing in FLAC, so a 34 KB file once claimed 45 minutes and cost 20 s of CPU; past this budget the
/// analysis stops and the file is refused.
pub fn audio_budget_seconds(file_bytes: u64) -> u64 {
    (60 + file_bytes / 100).min(4 * 3600)
}

#[derive(Debug, Clone)]
pub struct Analysis {
    pub duration_ms: i32,
    /// Each 0..=255: the loudest sample of a slice of the song.
    pub peaks: Vec<u8>,
    pub loudness_lufs: Option<f64>,
    pub true_peak_db: Option<f64>,
    /// Tempo, key and vector; silence has none.
    pub sonic: Result<Sonic, Unanalysable>,
}

/// What the decoded samples are folded into as they arrive: per-chunk maxima for the peaks, the loudness meter
/// and the sonic analyser. Memory stays bounded whatever the song's length.
struct Meter {
    rate: u32,
    /// Frames the budget allows ([`audio_budget_seconds`]).
    max_frames: u64,
    channels: usize,
    loudness: Option<ebur128::EbuR128>,
    sonic: Analyser,
    /// Loudest sample of each 1/20 s (the total length is not known up front), folded into buckets at the end.
    per_chunk: Vec<f32>,
    chunk_frames: u64,
    frames: u64,
}

impl Meter {
    fn new(rate: u32, channels: usize, file_bytes: u64) -> anyhow::Result<Self> {
        if !RATES.contains(&rate) {
            bail!(
                "a sample rate of {rate} Hz is not one the analysis measures ({} to {} Hz)",
                RATES.start(),
                RATES.end()
            );
        }
        if channels == 0 || channels > 32 {
            bail!("{channels} channels is not audio the analysis measures");
        }
        let loudness = ebur128::EbuR128::new(channels as u32, rate, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK).ok();
        Ok(Self {
            rate,
            max_frames: audio_budget_seconds(file_bytes) * u64::from(rate),
            channels,
            loudness,
            sonic: Analyser::new(rate),
            per_chunk: Vec::new(),
            chunk_frames: u64::from(rate / 20),
            frames: 0,
        })
    }

    /// Folds in a block of samples; an error once the file holds more audio than its size allows.
    fn push(&mut self, interleaved: &[f32]) -> anyhow::Result<()> {
        if self.frames + (interleaved.len() / self.channels) as u64 > self.max_frames {
            bail!(
                "the file holds more audio than its size allows (over {} s); not analysed",
                self.max_frames / u64::from(self.rate)
            );
        }
        if let Some(meter) = self.loudness.as_mut() {
            let _ = meter.add_frames_f32(interleaved);
        }
        self.sonic.push_interleaved(interleaved, self.channels);
        for frame in interleaved.chunks(self.channels) {
            let index = (self.frames / self.chunk_frames) as usize;
            if self.per_chunk.len() <= index {
                self.per_chunk.resize(index + 1, 0.0);
            }
            let loudest = frame.iter().fold(0f32, |m, s| m.max(s.abs()));
            self.per_chunk[index] = self.per_chunk[index].max(loudest);
            self.frames += 1;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Analysis> {
        if self.frames == 0 {
            bail!("the file decodes to no audio");
        }
        let meter = self.loudness.as_ref();
        let loudness_lufs = meter.and_then(|m| m.loudness_global().ok()).filter(|l| l.is_finite());
        let true_peak_db = meter.and_then(|m| {
            let peak = (0..self.channels as u32).filter_map(|c| m.true_peak(c).ok()).fold(0f64, f64::max);
            (peak > 0.0).then(|| 20.0 * peak.log10())
        });
        Ok(Analysis {
            duration_ms: i32::try_from(self.frames * 1000 / u64::from(self.rate)).unwrap_or(i32::MAX),
            peaks: fold_peaks(&self.per_chunk, PEAK_BUCKETS),
            loudness_lufs,
            true_peak_db,
            sonic: self.sonic.finish(),
        })
    }
}

/// The containers the analysis demuxes in-process (what Fermata stores, less MP4: see `Codec::decodable`):
/// symphonia's default probe also reads Matroska, whose demuxer panicked on bytes the analysis fuzz target made
/// (an EBML header behind an `.mp3` name), and MP4, whose demuxer allocated 59 GB for a 2 KB file.
fn probe() -> &'static symphonia::core::probe::Probe {
    use symphonia::default::formats::{AdtsReader, AiffReader, FlacReader, MpaReader, OggReader, WavReader};
    static PROBE: std::sync::OnceLock<symphonia::core::probe::Probe> = std::sync::OnceLock::new();
    PROBE.get_or_init(|| {
        let mut probe = symphonia::core::probe::Probe::default();
        probe.register_all::<FlacReader>();
        probe.register_all::<MpaReader>();
        probe.register_all::<AdtsReader>();
        probe.register_all::<OggReader>();
        probe.register_all::<WavReader>();
        probe.register_all::<AiffReader>();
        probe
    })
}

/// Decodes the whole file once with symphonia.
pub fn analyse(path: &Path, extension: &str) -> anyhow::Result<Analysis> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let probed = probe()
        .format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        .context("not a format the decoder knows")?;
    let mut format = probed.format;
    let track = format.default_track().context("no audio track")?.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .context("no decoder for this codec")?;
    // Measured as the decoder says the audio is (the container's own claims can be missing or wrong).
    let mut meter: Option<Meter> = None;
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(e).context("cannot read the audio"),
        };
        if packet.track_id() != track.id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A damaged packet is skipped, as players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(e).context("cannot decode the audio"),
        };
        let spec = *decoded.spec();
        if meter.is_none() {
            meter = Some(Meter::new(spec.rate, spec.channels.count(), file_bytes)?);
        }
        let meter = meter.as_mut().expect("set above");
        // A stretch whose layout differs from the start's (a broken stream) is skipped like a damaged packet.
        if spec.channels.count() != meter.channels || spec.rate != meter.rate {
            continue;
        }
        let samples = buffer.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if samples.capacity() < decoded.capacity() * spec.channels.count() {
            *samples = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        samples.copy_interleaved_ref(decoded);
        meter.push(samples.samples())?;
    }
    meter.context("the file decodes to no audio")?.finish()
}

/// The rate and channels ffmpeg decodes to for [`analyse_with_ffmpeg`] (Opus's own rate; stereo keeps the true
/// peak of either channel).
const FFMPEG_RATE: u32 = 48_000;
const FFMPEG_CHANNELS: usize = 2;

/// Decodes what symphonia cannot (Opus, WavPack) with ffmpeg, the same binary transcodes run with, reading its
/// 32-bit float samples from a pipe a block at a time. `demuxer` is named, never guessed from the content.
pub fn analyse_with_ffmpeg(ffmpeg: &Path, path: &Path, demuxer: &str) -> anyhow::Result<Analysis> {
    use std::{
        io::Read,
        process::{Command, Stdio},
    };
    let mut child = Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-f", demuxer, "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le"])
        .args(["-ac", &FFMPEG_CHANNELS.to_string(), "-ar", &FFMPEG_RATE.to_string(), "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", ffmpeg.display()))?;
    let mut stdout = child.stdout.take().context("ffmpeg's output")?;
    let mut stderr = child.stderr.take().context("ffmpeg's errors")?;
    // Its complaints are read beside the samples, so a chatty ffmpeg never blocks on a full pipe.
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.by_ref().take(64 * 1024).read_to_string(&mut text);
        text
    });
    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut meter = Meter::new(FFMPEG_RATE, FFMPEG_CHANNELS, file_bytes)?;
    let mut bytes = vec![0u8; 64 * 1024];
    let mut samples = Vec::with_capacity(bytes.len() / 4);
    let mut filled = 0;
    loop {
        let read = stdout.read(&mut bytes[filled..]).context("cannot read ffmpeg's output")?;
        if read == 0 {
            break;
        }
        filled += read;
        // Whole frames only; a partial one waits for the next read.
        let usable = filled - filled % (4 * FFMPEG_CHANNELS);
        samples.clear();
        samples.extend(bytes[..usable].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        if let Err(e) = meter.push(&samples) {
            // ffmpeg is resampling whatever the file claims: stop it rather than read the rest.
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        bytes.copy_within(usable..filled, 0);
        filled -= usable;
    }
    let status = child.wait().context("ffmpeg did not finish")?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        bail!("ffmpeg cannot decode the file: {}", errors.trim());
    }
    meter.finish()
}

fn fold_peaks(values: &[f32], buckets: usize) -> Vec<u8> {
    let buckets = buckets.min(values.len()).max(1);
    (0..buckets)
        .map(|b| {
            let start = b * values.len() / buckets;
            let end = ((b + 1) * values.len() / buckets).max(start + 1).min(values.len());
            let loudest = values[start..end].iter().fold(0f32, |m, v| m.max(*v));
            (loudest.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_layouts_outside_sane_ranges_are_refused() {
        for rate in [0, 1, 115, 7_999, 384_001, u32::MAX] {
            assert!(Meter::new(rate, 2, 1 << 20).is_err(), "{rate} Hz");
        }
        for channels in [0, 33] {
            assert!(Meter::new(44_100, channels, 1 << 20).is_err(), "{channels} channels");
        }
        assert!(Meter::new(8_000, 1, 0).is_ok());
        assert!(Meter::new(384_000, 8, 0).is_ok());
    }

    #[test]
    fn the_audio_a_file_holds_is_bounded_by_its_size() {
        assert_eq!(audio_budget_seconds(0), 60);
        assert_eq!(audio_budget_seconds(34_000), 400);
        // A 3-minute MP3 at 32 kbit/s (720 KB) and an hour of 8 kbit/s speech (3.6 MB) fit.
        assert!(audio_budget_seconds(720_000) > 180);
        assert!(audio_budget_seconds(3_600_000) > 3_600);
        assert_eq!(audio_budget_seconds(u64::MAX), 4 * 3600);

        // 401 seconds of silence at 8 kHz pushed into a meter for a 34 KB file: refused past 400 s, and the
        // peaks' memory never grew past the budget's slices.
        let mut meter = Meter::new(8_000, 1, 34_000).unwrap();
        let block = vec![0f32; 8_000];
        for _ in 0..400 {
            meter.push(&block).unwrap();
        }
        assert!(meter.push(&block).is_err());
        assert!(meter.per_chunk.len() <= 400 * 20);
    }

    #[test]
    fn broken_and_empty_files_fail_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.mp3");
        std::fs::write(
            &garbage,
            (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>(),
        )
        .unwrap();
        let empty = dir.path().join("empty.flac");
        std::fs::write(&empty, b"").unwrap();
        for (path, extension) in [(&garbage, "mp3"), (&empty, "flac")] {
            assert!(analyse(path, extension).is_err(), "{}", path.display());
        }
        assert!(analyse(&dir.path().join("missing.ogg"), "ogg").is_err());
        // The fuzz target's find: a Matroska (EBML) header under an `.mp3` name panicked in symphonia's demuxer.
        // The input is kept in the fuzz corpus; its first byte is the target's choice of extension (1: mp3).
        let input = include_bytes!("../../fuzz/corpus/analysis/regression-ebml-under-mp3");
        let ebml = dir.path().join("ebml.mp3");
        std::fs::write(&ebml, &input[1..]).unwrap();
        // Answered without a panic (what MP3 sync words the bytes hold may even decode), within its budget.
        if let Ok(found) = analyse(&ebml, "mp3") {
            assert!(u64::try_from(found.duration_ms).unwrap() / 1000 <= audio_budget_seconds(2962));
        }
        // And an MP4 whose sample-to-chunk atom claims billions of entries: not demuxed in-process at all (it
        // aborted the process on a 59 GB allocation); ffmpeg analyses MP4 in its own.
        let input = include_bytes!("../../fuzz/corpus/analysis/regression-mp4-stsc-count");
        let mp4 = dir.path().join("stsc.m4a");
        std::fs::write(&mp4, &input[1..]).unwrap();
        assert!(analyse(&mp4, "m4a").is_err());
    }
}
