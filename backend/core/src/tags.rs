//! Reading what a file is: its audio properties and its tags (ID3v1/v2, Vorbis comments, MP4 atoms, RIFF
//! INFO, through lofty), with fallbacks from the file name when tags are missing.

use std::{
    io::{Read, Seek},
    path::Path,
};

use lofty::{
    file::{AudioFile, FileType, TaggedFileExt},
    prelude::{Accessor, ItemKey},
    probe::Probe,
    tag::Tag,
};

/// How a song's audio is encoded, as stored in `songs.codec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Codec {
    #[sea_orm(string_value = "mp3")]
    Mp3,
    #[sea_orm(string_value = "flac")]
    Flac,
    #[sea_orm(string_value = "vorbis")]
    Vorbis,
    #[sea_orm(string_value = "opus")]
    Opus,
    #[sea_orm(string_value = "aac")]
    Aac,
    #[sea_orm(string_value = "wav")]
    Wav,
    #[sea_orm(string_value = "aiff")]
    Aiff,
    /// Apple Lossless, in MP4. Browsers other than Safari cannot play it: the web player asks for a transcode.
    #[sea_orm(string_value = "alac")]
    Alac,
    #[sea_orm(string_value = "wavpack")]
    WavPack,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Vorbis => "vorbis",
            Self::Opus => "opus",
            Self::Aac => "aac",
            Self::Wav => "wav",
            Self::Aiff => "aiff",
            Self::Alac => "alac",
            Self::WavPack => "wavpack",
        }
    }

    /// Whether the analysis decodes it in-process with symphonia. Opus and WavPack (no symphonia decoder) and MP4
    /// (AAC, ALAC) go to ffmpeg, in its own process: symphonia's MP4 demuxer allocates what an atom's entry count
    /// claims, and a 2 KB file the analysis fuzz target made asked for 59 GB, which aborts the whole process.
    pub fn decodable(self) -> bool {
        !matches!(self, Self::Opus | Self::WavPack | Self::Aac | Self::Alac)
    }

    /// The usual file extension of the format (what a client names a downloaded copy).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Vorbis => "ogg",
            Self::Opus => "opus",
            Self::Aac => "m4a",
            Self::Wav => "wav",
            Self::Aiff => "aiff",
            Self::Alac => "m4a",
            Self::WavPack => "wv",
        }
    }

    /// The Content-Type a stored song is served with (`extension` tells MP4 from raw AAC).
    pub fn content_type(self, extension: &str) -> &'static str {
        match (self, extension) {
            (Self::Mp3, _) => "audio/mpeg",
            (Self::Flac, _) => "audio/flac",
            (Self::Vorbis, _) => "audio/ogg",
            (Self::Opus, _) => "audio/ogg; codecs=opus",
            (Self::Aac, "m4a") => "audio/mp4",
            (Self::Aac, _) => "audio/aac",
            (Self::Wav, _) => "audio/wav",
            (Self::Aiff, _) => "audio/aiff",
            (Self::Alac, _) => "audio/mp4",
            (Self::WavPack, _) => "audio/x-wavpack",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const UNKNOWN_ARTIST: &str = "Unknown Artist";
pub const UNKNOWN_ALBUM: &str = "Unknown Album";

#[derive(Debug, Clone)]
pub struct Metadata {
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: Option<String>,
    pub track: Option<i32>,
    pub track_total: Option<i32>,
    pub disc: Option<i32>,
    pub disc_total: Option<i32>,
    pub year: Option<i32>,
    pub genre: Option<String>,
    pub compilation: bool,
    pub duration_ms: i32,
    pub codec: Codec,
    /// The file extension Fermata stores it under.
    pub extension: &'static str,
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub channels: Option<i16>,
    pub cover: Option<Cover>,
}

impl Metadata {
    /// Audio of `codec` with no tags read yet (every text empty, every number unknown).
    pub fn untagged(codec: Codec, extension: &'static str) -> Self {
        Self {
            title: String::new(),
            artist: String::new(),
            album: String::new(),
            album_artist: None,
            track: None,
            track_total: None,
            disc: None,
            disc_total: None,
            year: None,
            genre: None,
            compilation: false,
            duration_ms: 0,
            codec,
            extension,
            bitrate: None,
            sample_rate: None,
            channels: None,
            cover: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cover {
    pub data: Vec<u8>,
    pub extension: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("not a recognised audio format")]
    UnknownFormat,
    #[error("unreadable audio: {0}")]
    Corrupt(String),
    #[error("the file holds no audio")]
    NoAudio,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Probes a file by its content (never its name) and reads its metadata.
pub fn read(path: &Path, original_name: Option<&str>) -> Result<Metadata, ProbeError> {
    let file = std::fs::File::open(path).map_err(|e| ProbeError::Corrupt(e.to_string()))?;
    read_from(std::io::BufReader::new(file), original_name.or_else(|| path.file_name().and_then(|n| n.to_str())))
}

/// Probes the audio `reader` holds (an open file, or a small file's bytes already read) by its content and
/// reads its metadata; `name` is the file name fallbacks come from.
pub fn read_from<R: Read + Seek>(reader: R, name: Option<&str>) -> Result<Metadata, ProbeError> {
    let probe = Probe::new(reader).guess_file_type()?;
    let file_type = probe.file_type().ok_or(ProbeError::UnknownFormat)?;
    let (mut codec, extension) = codec_of(file_type).ok_or(ProbeError::UnknownFormat)?;
    let probe = if file_type == FileType::Mp4 {
        let mut reader = probe.into_inner();
        if mp4_is_alac(&mut reader) {
            codec = Codec::Alac;
        }
        reader.rewind()?;
        Probe::with_file_type(reader, file_type)
    } else {
        probe
    };
    let tagged = probe.read().map_err(|e| ProbeError::Corrupt(e.to_string()))?;
    let properties = tagged.properties();
    let duration = properties.duration();
    if duration.is_zero() {
        return Err(ProbeError::NoAudio);
    }

    let mut meta = Metadata {
        duration_ms: i32::try_from(duration.as_millis()).unwrap_or(i32::MAX),
        bitrate: properties.audio_bitrate().or(properties.overall_bitrate()).and_then(|b| i32::try_from(b).ok()),
        sample_rate: properties.sample_rate().and_then(|r| i32::try_from(r).ok()),
        channels: properties.channels().map(i16::from),
        ..Metadata::untagged(codec, extension)
    };
    if let Some(tag) = tagged.primary_tag().or_else(|| tagged.first_tag()) {
        apply_tag(&mut meta, tag);
        // Other tags of the file fill what the primary one lacks (e.g. ID3v1 beside an empty ID3v2).
        for other in tagged.tags() {
            apply_missing(&mut meta, other);
        }
    }
    apply_file_name_fallback(&mut meta, name);
    Ok(meta)
}

fn codec_of(file_type: FileType) -> Option<(Codec, &'static str)> {
    Some(match file_type {
        FileType::Mpeg => (Codec::Mp3, "mp3"),
        FileType::Flac => (Codec::Flac, "flac"),
        FileType::Vorbis => (Codec::Vorbis, "ogg"),
        FileType::Opus => (Codec::Opus, "opus"),
        FileType::Mp4 => (Codec::Aac, "m4a"),
        FileType::Aac => (Codec::Aac, "aac"),
        FileType::Wav => (Codec::Wav, "wav"),
        FileType::Aiff => (Codec::Aiff, "aiff"),
        FileType::WavPack => (Codec::WavPack, "wv"),
        _ => return None,
    })
}

/// Whether an MP4 file holds Apple Lossless rather than AAC (the generic properties do not say).
fn mp4_is_alac<R: Read + Seek>(reader: &mut R) -> bool {
    use lofty::{config::ParseOptions, mp4::Mp4File};
    reader.rewind().is_ok()
        && Mp4File::read_from(reader, ParseOptions::new().read_tags(false))
            .is_ok_and(|mp4| mp4.properties().codec() == Some(lofty::mp4::Mp4Codec::ALAC))
}

fn clean(text: &str) -> Option<String> {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(500).collect())
}

fn number(n: Option<u32>, max: u32) -> Option<i32> {
    n.filter(|n| *n <= max).and_then(|n| i32::try_from(n).ok())
}

fn apply_tag(meta: &mut Metadata, tag: &Tag) {
    meta.title = tag.title().and_then(|t| clean(&t)).unwrap_or_default();
    meta.artist = tag.artist().and_then(|t| clean(&t)).unwrap_or_default();
    meta.album = tag.album().and_then(|t| clean(&t)).unwrap_or_default();
    meta.album_artist = tag.get_string(ItemKey::AlbumArtist).and_then(clean);
    meta.genre = tag.genre().and_then(|t| clean(&t)).map(|g| g.chars().take(200).collect());
    meta.track = number(tag.track(), 9999);
    meta.track_total = number(tag.track_total(), 9999);
    meta.disc = number(tag.disk(), 999);
    meta.disc_total = number(tag.disk_total(), 999);
    meta.year = tag
        .date()
        .map(|d| i32::from(d.year))
        .filter(|y| (1..=9999).contains(y))
        .or_else(|| tag.get_string(ItemKey::Year).and_then(|y| y.get(..4)?.parse().ok()));
    meta.compilation =
        tag.get_string(ItemKey::FlagCompilation).is_some_and(|v| matches!(v.trim(), "1" | "true" | "TRUE"));
    if meta.cover.is_none() {
        // Checked by content, whatever the tag's MIME type says; a picture over the limits (an image bomb) or
        // not an image at all is left out rather than stored.
        meta.cover = tag.pictures().iter().find_map(|p| {
            let inspected = crate::covers::inspect_bytes(p.data()).ok()?;
            Some(Cover { data: p.data().to_vec(), extension: inspected.extension() })
        });
    }
}

fn apply_missing(meta: &mut Metadata, tag: &Tag) {
    if meta.title.is_empty() {
        meta.title = tag.title().and_then(|t| clean(&t)).unwrap_or_default();
    }
    if meta.artist.is_empty() {
        meta.artist = tag.artist().and_then(|t| clean(&t)).unwrap_or_default();
    }
    if meta.album.is_empty() {
        meta.album = tag.album().and_then(|t| clean(&t)).unwrap_or_default();
    }
    meta.genre = meta.genre.take().or_else(|| tag.genre().and_then(|t| clean(&t)));
    meta.track = meta.track.or_else(|| number(tag.track(), 9999));
    meta.year = meta.year.or_else(|| tag.date().map(|d| i32::from(d.year)).filter(|y| (1..=9999).contains(y)));
}

/// "Artist - Title.mp3", "07 - Title.flac", "07. Title.ogg", "Title.wav"; then "Unknown Artist/Album".
fn apply_file_name_fallback(meta: &mut Metadata, name: Option<&str>) {
    let stem = name
        .map(|n| Path::new(n).file_stem().and_then(|s| s.to_str()).unwrap_or(n))
        .and_then(clean)
        .unwrap_or_else(|| "Untitled".to_owned());
    let (prefix, rest) = match stem.split_once(" - ") {
        Some((a, b)) => (Some(a.trim().to_owned()), b.trim().to_owned()),
        None => (None, stem.clone()),
    };
    let leading_number = |text: &str| -> Option<(i32, String)> {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || digits.len() > 3 {
            return None;
        }
        let after = text[digits.len()..].trim_start_matches(['.', ' ', '-', '_']).trim();
        (!after.is_empty()).then(|| (digits.parse().ok(), after.to_owned())).and_then(|(n, t)| Some((n?, t)))
    };
    if meta.title.is_empty() {
        match &prefix {
            Some(p) if p.chars().all(|c| c.is_ascii_digit()) && p.len() <= 3 => {
                meta.track = meta.track.or(p.parse().ok());
                meta.title = rest;
            }
            Some(p) => {
                if meta.artist.is_empty() {
                    meta.artist = leading_number(p).map_or_else(|| p.clone(), |(_, a)| a);
                }
                meta.title = rest;
            }
            None => match leading_number(&stem) {
                Some((n, title)) => {
                    meta.track = meta.track.or(Some(n));
                    meta.title = title;
                }
                None => meta.title = stem,
            },
        }
    }
    if meta.artist.is_empty() {
        meta.artist = meta.album_artist.clone().unwrap_or_else(|| UNKNOWN_ARTIST.to_owned());
    }
    if meta.album.is_empty() {
        meta.album = UNKNOWN_ALBUM.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Metadata {
        let mut meta = Metadata::untagged(Codec::Mp3, "mp3");
        apply_file_name_fallback(&mut meta, Some(name));
        meta
    }

    #[test]
    fn every_codec_is_served_with_its_content_type() {
        use sea_orm::{ActiveEnum, Iterable};
        let cases = [
            (Codec::Mp3, "mp3", "audio/mpeg"),
            (Codec::Flac, "flac", "audio/flac"),
            (Codec::Vorbis, "ogg", "audio/ogg"),
            (Codec::Opus, "opus", "audio/ogg; codecs=opus"),
            (Codec::Aac, "m4a", "audio/mp4"),
            (Codec::Aac, "aac", "audio/aac"),
            (Codec::Wav, "wav", "audio/wav"),
            (Codec::Aiff, "aiff", "audio/aiff"),
        ];
        for (codec, extension, expected) in cases {
            assert_eq!(codec.content_type(extension), expected);
        }
        for codec in Codec::iter() {
            assert_eq!(codec.to_value(), codec.as_str(), "the stored name is the shown name");
        }
    }

    #[test]
    fn file_name_fallbacks() {
        let m = named("Nina Simone - Feeling Good.mp3");
        assert_eq!(
            (m.artist.as_str(), m.title.as_str(), m.album.as_str()),
            ("Nina Simone", "Feeling Good", UNKNOWN_ALBUM)
        );
        let m = named("07 - Blue in Green.flac");
        assert_eq!((m.track, m.title.as_str(), m.artist.as_str()), (Some(7), "Blue in Green", UNKNOWN_ARTIST));
        let m = named("03. So What.ogg");
        assert_eq!((m.track, m.title.as_str()), (Some(3), "So What"));
        let m = named("untitled.wav");
        assert_eq!((m.track, m.title.as_str()), (None, "untitled"));
        let m = named("1999.mp3");
        assert_eq!(m.title, "1999", "a number alone is a title, not a track");
    }
}
