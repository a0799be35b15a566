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

/// Decodes the whole file once. Memory stays bounded: samples are folded into running peaks and the
/// loudness meter as they are decoded.
pub fn analyse(path: &Path, extension: &str) -> anyhow::Result<Analysis> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        .context("not a format the decoder knows")?;
    let mut format = probed.format;
    let track = format.default_track().context("no audio track")?.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .context("no decoder for this codec")?;
    let rate = track.codec_params.sample_rate.context("unknown sample rate")?;
    let channels = track.codec_params.channels.map_or(2, |c| c.count()) as u32;
    let mut meter = ebur128::EbuR128::new(channels, rate, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK).ok();
    let mut sonic = Analyser::new(rate);

    // Per-second maxima first (the total length is not known up front), then folded into buckets.
    let mut per_chunk: Vec<f32> = Vec::new();
    let chunk_frames = (rate / 20).max(1) as u64;
    let mut frames: u64 = 0;
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
        let samples = buffer.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if samples.capacity() < decoded.capacity() * spec.channels.count() {
            *samples = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        samples.copy_interleaved_ref(decoded);
        let interleaved = samples.samples();
        if let Some(meter) = meter.as_mut() {
            let _ = meter.add_frames_f32(interleaved);
        }
        let ch = spec.channels.count().max(1);
        sonic.push_interleaved(interleaved, ch);
        for frame in interleaved.chunks(ch) {
            let index = (frames / chunk_frames) as usize;
            if per_chunk.len() <= index {
                per_chunk.resize(index + 1, 0.0);
            }
            let loudest = frame.iter().fold(0f32, |m, s| m.max(s.abs()));
            per_chunk[index] = per_chunk[index].max(loudest);
            frames += 1;
        }
    }
    if frames == 0 {
        bail!("the file decodes to no audio");
    }
    let peaks = fold_peaks(&per_chunk, PEAK_BUCKETS);
    let loudness_lufs = meter.as_ref().and_then(|m| m.loudness_global().ok()).filter(|l| l.is_finite());
    let true_peak_db = meter.as_ref().and_then(|m| {
        let peak = (0..channels).filter_map(|c| m.true_peak(c).ok()).fold(0f64, f64::max);
        (peak > 0.0).then(|| 20.0 * peak.log10())
    });
    Ok(Analysis {
        duration_ms: i32::try_from(frames * 1000 / u64::from(rate)).unwrap_or(i32::MAX),
        peaks,
        loudness_lufs,
        true_peak_db,
        sonic: sonic.finish(),
    })
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
            assert!(super::analyse(path, extension).is_err(), "{}", path.display());
        }
        assert!(super::analyse(&dir.path().join("missing.ogg"), "ogg").is_err());
    }
}
