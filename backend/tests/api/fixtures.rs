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

/// Writes `<dir>/<name>.<ext>`: `seconds` of stereo pink noise at 44.1 kHz, untagged, lossy formats at 192k: a
/// signal every encoder spends its whole bitrate on (a tone would let a VBR encoder go far under its target).
pub fn noise(dir: &Path, name: &str, format: Format, seconds: f32) -> PathBuf {
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("anoisesrc=color=pink:sample_rate=44100:duration={seconds}"),
    ]);
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
    let path = dir.join(format!("{name}.{}", format.extension()));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("sine=frequency={hz}:duration={seconds}")]);
    let with_cover = cover && format.embeds_cover();
    if with_cover {
        cmd.arg("-i").arg(cover_image());
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
