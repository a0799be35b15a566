//! The fixture tool: small, real, tagged audio files in every common format, made with ffmpeg.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mp3,
    Flac,
    Vorbis,
    Opus,
    M4a,
    Wav,
    Aiff,
    /// Apple Lossless in MP4.
    Alac,
    WavPack,
}

impl Format {
    pub const ALL: [Self; 9] =
        [Self::Mp3, Self::Flac, Self::Vorbis, Self::Opus, Self::M4a, Self::Wav, Self::Aiff, Self::Alac, Self::WavPack];

    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Vorbis => "ogg",
            Self::Opus => "opus",
            Self::M4a => "m4a",
            Self::Wav => "wav",
            Self::Aiff => "aiff",
            Self::Alac => "m4a",
            Self::WavPack => "wv",
        }
    }

    fn codec_args(self) -> &'static [&'static str] {
        match self {
            Self::Mp3 => &["-c:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "3"],
            Self::Flac => &["-c:a", "flac"],
            Self::Vorbis => &["-c:a", "libvorbis", "-q:a", "0"],
            Self::Opus => &["-c:a", "libopus", "-b:a", "32k"],
            Self::M4a => &["-c:a", "aac", "-b:a", "64k"],
            Self::Wav => &["-c:a", "pcm_s16le", "-ar", "8000"],
            Self::Aiff => &["-c:a", "pcm_s16be", "-ar", "8000", "-write_id3v2", "1"],
            Self::Alac => &["-c:a", "alac", "-ar", "22050"],
            Self::WavPack => &["-c:a", "wavpack", "-ar", "22050"],
        }
    }

    /// Formats whose container can carry a picture through ffmpeg.
    fn embeds_cover(self) -> bool {
        matches!(self, Self::Mp3 | Self::Flac | Self::M4a | Self::Alac)
    }
}

#[derive(Debug, Clone)]
pub struct Tags<'a> {
    pub title: Option<&'a str>,
    pub artist: Option<&'a str>,
    pub album: Option<&'a str>,
    pub album_artist: Option<&'a str>,
    pub track: Option<&'a str>,
    pub year: Option<&'a str>,
    pub genre: Option<&'a str>,
}

impl<'a> Tags<'a> {
    pub fn song(title: &'a str, artist: &'a str, album: &'a str) -> Self {
        Self {
            title: Some(title),
            artist: Some(artist),
            album: Some(album),
            album_artist: None,
            track: None,
            year: None,
            genre: None,
        }
    }

    pub fn none() -> Self {
        Self { title: None, artist: None, album: None, album_artist: None, track: None, year: None, genre: None }
    }
}

/// One 400×400 test-card PNG per test process, kept beside the process's temp files.
pub fn cover_image() -> PathBuf {
    static COVER: OnceLock<PathBuf> = OnceLock::new();
    COVER
        .get_or_init(|| {
            let path = std::env::temp_dir().join(format!("fermata-cover-fixture-{}.png", std::process::id()));
            run(Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=400x400", "-frames:v", "1"])
                .arg(&path));
            path
        })
        .clone()
}

fn run(cmd: &mut Command) {
    let output = cmd.output().expect("ffmpeg is installed (apt-get install ffmpeg)");
    assert!(output.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// ffmpeg reading the lavfi source `source` (a generator), quiet, overwriting its output.
fn lavfi(source: &str) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", source]);
    cmd
}

/// Writes `<dir>/<name>.<ext>`: `seconds` of stereo pink noise at 44.1 kHz, untagged, lossy formats at 192k: a
/// signal every encoder spends its whole bitrate on (a tone would let a VBR encoder go far under its target).
pub fn noise(dir: &Path, name: &str, format: Format, seconds: f32) -> PathBuf {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut cmd = lavfi(&format!("anoisesrc=color=pink:sample_rate=44100:duration={seconds}"));
    cmd.args(["-ac", "2"]).args(format.codec_args());
    if matches!(format, Format::Mp3 | Format::Opus | Format::M4a) {
        // Lossy sources at a rate a listener's ceiling is under (the last -b:a wins).
        cmd.args(["-b:a", "192k"]);
    }
    cmd.arg(&path);
    run(&mut cmd);
    path
}

/// Writes `<dir>/<name>.<ext>`: `seconds` of a tone at `hz` (which also makes every file's bytes unique),
/// with these tags and, where the format allows, an embedded cover.
pub fn make(dir: &Path, name: &str, format: Format, tags: &Tags, seconds: f32, hz: u32, cover: bool) -> PathBuf {
    make_with_picture(dir, name, format, tags, seconds, hz, cover.then(cover_image).as_deref())
}

/// [`make`] with `picture` (an image file) embedded where the format allows.
pub fn make_with_picture(
    dir: &Path,
    name: &str,
    format: Format,
    tags: &Tags,
    seconds: f32,
    hz: u32,
    picture: Option<&Path>,
) -> PathBuf {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut cmd = lavfi(&format!("sine=frequency={hz}:duration={seconds}"));
    let picture = picture.filter(|_| format.embeds_cover());
    if let Some(picture) = picture {
        cmd.arg("-i").arg(picture);
        cmd.args(["-map", "0:a", "-map", "1:v", "-c:v", "png", "-disposition:v", "attached_pic"]);
    }
    cmd.args(["-ac", "2"]);
    cmd.args(format.codec_args());
    let mut meta = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            cmd.args(["-metadata", &format!("{key}={value}")]);
        }
    };
    meta("title", tags.title);
    meta("artist", tags.artist);
    meta("album", tags.album);
    meta("album_artist", tags.album_artist);
    meta("track", tags.track);
    meta("date", tags.year);
    meta("genre", tags.genre);
    if tags.title.is_none() && tags.artist.is_none() {
        cmd.args(["-map_metadata", "-1"]);
    }
    cmd.arg(&path);
    run(&mut cmd);
    path
}

/// Writes `<dir>/<name>.<ext>`: `seconds` of mono audio at 44.1 kHz computed by ffmpeg's `aevalsrc` from
/// `expression` (of `t`, in seconds; commas written as `\,`), titled `name`, on an album of the same name. For
/// signals with known properties.
pub fn signal(dir: &Path, name: &str, format: Format, seconds: f32, expression: &str) -> PathBuf {
    signal_on(dir, name, name, format, seconds, expression)
}

/// [`signal`] on album `album`.
pub fn signal_on(dir: &Path, name: &str, album: &str, format: Format, seconds: f32, expression: &str) -> PathBuf {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut cmd = lavfi(&format!("aevalsrc=exprs={expression}:s=44100:d={seconds}"));
    cmd.args(format.codec_args());
    cmd.args([
        "-metadata",
        &format!("title={name}"),
        "-metadata",
        "artist=Signals",
        "-metadata",
        &format!("album={album}"),
    ]);
    cmd.arg(&path);
    run(&mut cmd);
    path
}

/// An image made by ffmpeg's `source` (`testsrc2=size=300x300`, `color=red:size=9000x16`), as PNG.
pub fn picture(dir: &Path, name: &str, source: &str) -> PathBuf {
    let path = dir.join(format!("{name}.png"));
    run(Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", "1"]).arg(&path));
    path
}

/// A FLAC of digital silence at `rate` Hz lasting `seconds`, in the largest blocks FLAC has: each block of
/// 65,535 samples costs a few bytes, so a tiny file claims hours (what an attacker uploads to make the analysis
/// work for nothing).
pub fn silent_flac(dir: &Path, name: &str, rate: u32, seconds: u64) -> PathBuf {
    let path = dir.join(format!("{name}.flac"));
    let mut cmd = lavfi(&format!("anullsrc=r={rate}:cl=mono"));
    cmd.args(["-t", &seconds.to_string()]);
    cmd.args([
        "-c:a",
        "flac",
        "-frame_size",
        "65535",
        "-metadata",
        &format!("title={name}"),
        "-metadata",
        "artist=Bombs",
    ]);
    cmd.arg(&path);
    run(&mut cmd);
    path
}

/// A click track: a 10 ms decaying 1 kHz click on every beat at `bpm`.
pub fn clicks(dir: &Path, name: &str, format: Format, bpm: f32, seconds: f32) -> PathBuf {
    let period = 60.0 / bpm;
    let expression = format!("0.8*sin(2*PI*1000*t)*exp(-mod(t\\,{period})*300)*lt(mod(t\\,{period})\\,0.01)");
    signal(dir, name, format, seconds, &expression)
}

/// A chord progression, one chord per second, repeated: each chord's MIDI notes played as a tone with three
/// harmonics.
pub fn chords(dir: &Path, name: &str, format: Format, progression: &[&[i32]], seconds: f32) -> PathBuf {
    let tone = |note: i32| {
        let hz = 440.0 * 2f32.powf((note - 69) as f32 / 12.0);
        format!("(sin(2*PI*{hz}*t)+sin(4*PI*{hz}*t)/4+sin(6*PI*{hz}*t)/9)")
    };
    let n = progression.len();
    // Sum over chords of [the current second is this chord's] × the chord.
    let parts: Vec<String> = progression
        .iter()
        .enumerate()
        .map(|(i, chord)| {
            let notes: Vec<String> = chord.iter().map(|note| tone(*note)).collect();
            format!("eq(mod(floor(t)\\,{n})\\,{i})*({})", notes.join("+"))
        })
        .collect();
    let expression = format!("0.12*pow(1-mod(t\\,1)\\,0.3)*({})", parts.join("+"));
    signal(dir, name, format, seconds, &expression)
}

/// Writes a PNG of `width`×`height` that is small on disk (1-bit, one colour, compressed) but decodes to
/// `width × height × 3` bytes or more: the image bomb a cover can be.
pub fn huge_png(path: &Path, width: u32, height: u32) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_palette(vec![0u8, 0, 0, 255, 255, 255]);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let row = vec![0u8; width.div_ceil(8) as usize];
    for _ in 0..height {
        std::io::Write::write_all(&mut stream, &row).unwrap();
    }
    stream.finish().unwrap();
}

/// Embeds `image` as the front cover of an MP3 (ID3v2), exactly as given: no re-encoding, no checks.
pub fn embed_cover(path: &Path, image: Vec<u8>) {
    use lofty::{
        config::WriteOptions,
        file::TaggedFileExt,
        picture::{MimeType, Picture, PictureType},
        tag::{Tag, TagExt, TagType},
    };
    let tagged = lofty::read_from_path(path).unwrap();
    let mut tag = tagged.tag(TagType::Id3v2).cloned().unwrap_or_else(|| Tag::new(TagType::Id3v2));
    tag.push_picture(Picture::unchecked(image).pic_type(PictureType::CoverFront).mime_type(MimeType::Png).build());
    tag.save_to_path(path, WriteOptions::default()).unwrap();
}
