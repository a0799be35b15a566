//! Transcoding: which rendition of a song a client gets (the stored file, or Opus, MP3 or AAC at a bitrate), and
//! the ffmpeg processes that make them ([`Transcoder`]). Both APIs ask the same question with their own words
//! (REST `format` + `max_bitrate`, Subsonic `format` + `maxBitRate`) and get the same [`Plan`].
//!
//! A finished transcode is a file on the media volume (`transcodes/ab/<source hash>-<kbps>.<ext>`), shared by
//! every replica and served like a stored song; [`cache`] keeps the index that bounds its size.

pub mod cache;
mod transcoder;

pub use transcoder::{Output, Settings, Source, Stats, Transcoder};

use crate::tags::Codec;

/// A format Fermata transcodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Opus in Ogg: the best quality per bit; every current browser and most apps play it.
    Opus,
    /// MP3 (LAME): plays everywhere.
    Mp3,
    /// AAC-LC: what Apple devices prefer. A finished file is MP4 (`m4a`); while it is being made it streams as ADTS.
    Aac,
}

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The stored file, whatever else was asked (`format=raw`).
    Raw,
    Format(Format),
}

/// The bitrates a transcode is made at (kbit/s). A request is rounded down to one of them, so the cache holds a
/// handful of renditions per song, not one per number a client can send.
pub const BITRATES: [u32; 11] = [32, 48, 64, 96, 112, 128, 160, 192, 224, 256, 320];

/// A client's request: a format, a ceiling on the bitrate, a start time for a transcode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    pub format: Option<Choice>,
    /// kbit/s; `None` (or Subsonic's 0) means no ceiling.
    pub max_bitrate: Option<u32>,
    /// Seconds into the song a transcode starts at (Subsonic `timeOffset`). The stored file ignores it, as
    /// the Subsonic API documents: a client seeks in it with ranges.
    pub offset_secs: u32,
}

/// A transcoded rendition: the format and the bitrate it is made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rendition {
    pub format: Format,
    pub bitrate: u32,
}

/// What a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The stored file, with ranges.
    Original,
    Transcode(Rendition),
}

impl Format {
    pub const ALL: [Self; 3] = [Self::Opus, Self::Mp3, Self::Aac];

    /// A format by the names clients use for it.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "opus" | "ogg" | "oga" => Some(Self::Opus),
            "mp3" | "mpeg" => Some(Self::Mp3),
            "aac" | "m4a" | "mp4" => Some(Self::Aac),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Mp3 => "mp3",
            Self::Aac => "aac",
        }
    }

    /// The stored codec that already is this format.
    pub fn codec(self) -> Codec {
        match self {
            Self::Opus => Codec::Opus,
            Self::Mp3 => Codec::Mp3,
            Self::Aac => Codec::Aac,
        }
    }

    /// The extension of a finished file.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Mp3 => "mp3",
            Self::Aac => "m4a",
        }
    }

    /// The Content-Type of a finished file (the same as nginx's for its extension, nginx/audio-types.conf).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Opus => "audio/ogg; codecs=opus",
            Self::Mp3 => "audio/mpeg",
            Self::Aac => "audio/mp4",
        }
    }

    /// The Content-Type while it is being made (or when it starts part-way, which is never kept).
    pub fn live_content_type(self) -> &'static str {
        match self {
            Self::Aac => "audio/aac",
            other => other.content_type(),
        }
    }

    /// The encoder's arguments. MP3 and AAC are resampled to 44.1 kHz (an 8 kHz or 96 kHz source has no MP3
    /// at most bitrates); Opus works at 48 kHz and ffmpeg resamples to it. Everything is stereo at most.
    fn encoder_args(self, bitrate: u32) -> Vec<String> {
        let bitrate = format!("{bitrate}k");
        let args: &[&str] = match self {
            // Constrained VBR: close to the bitrate asked for, which is what a listener's connection can carry.
            Self::Opus => &["-c:a", "libopus", "-b:a", &bitrate, "-vbr", "constrained"],
            Self::Mp3 => &["-c:a", "libmp3lame", "-b:a", &bitrate, "-ar", "44100"],
            Self::Aac => &["-c:a", "aac", "-b:a", &bitrate, "-ar", "44100"],
        };
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["-ac", "2"].map(str::to_owned));
        args
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Choice {
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("raw") { Some(Self::Raw) } else { Format::parse(name).map(Self::Format) }
    }
}

impl Request {
    /// A transcode can start anywhere before the song's end.
    pub fn check(&self, duration_ms: i32) -> Result<(), crate::error::Error> {
        if self.offset_secs > 0 && i64::from(self.offset_secs) * 1000 >= i64::from(duration_ms) {
            return Err(crate::error::Error::invalid("offset", "is past the end of the song"));
        }
        Ok(())
    }
}

/// The nearest made bitrate at or below `kbps` (the lowest one below it).
pub fn bitrate_step(kbps: u32) -> u32 {
    BITRATES.iter().rev().copied().find(|&b| b <= kbps).unwrap_or(BITRATES[0])
}

/// What a request for a song of `codec` at `source_kbps` gets. The stored file when it already fits: the format
/// asked for (or any, when none was) and within the ceiling. Otherwise a transcode to the format asked for, or
/// `default_format` when only a ceiling was given, at the ceiling or `default_bitrate`, rounded down to a step.
/// A source of unknown bitrate never fits a ceiling.
pub fn plan(
    codec: Codec,
    source_kbps: Option<u32>,
    request: &Request,
    default_format: Format,
    default_bitrate: u32,
) -> Plan {
    let ceiling = request.max_bitrate.filter(|&m| m > 0);
    let fits = ceiling.is_none_or(|max| source_kbps.is_some_and(|b| b <= max));
    let format = match request.format {
        Some(Choice::Raw) => return Plan::Original,
        Some(Choice::Format(format)) if format.codec() == codec && fits => return Plan::Original,
        Some(Choice::Format(format)) => format,
        None if fits => return Plan::Original,
        None => default_format,
    };
    Plan::Transcode(Rendition { format, bitrate: bitrate_step(ceiling.unwrap_or(default_bitrate)) })
}

/// The demuxer ffmpeg must use for a stored codec. Named, never guessed: a file that is something else fails
/// instead of reaching a demuxer that can open other files (a playlist, `concat`).
pub(crate) fn demuxer(codec: Codec, extension: &str) -> &'static str {
    match (codec, extension) {
        (Codec::Mp3, _) => "mp3",
        (Codec::Flac, _) => "flac",
        (Codec::Vorbis | Codec::Opus, _) => "ogg",
        (Codec::Aac, "aac") => "aac",
        (Codec::Aac | Codec::Alac, _) => "mov",
        (Codec::Wav, _) => "wav",
        (Codec::Aiff, _) => "aiff",
        (Codec::WavPack, _) => "wv",
    }
}

#[cfg(test)]
mod tests {
    use super::{Choice, Format, Plan, Rendition, Request, bitrate_step, plan};
    use crate::tags::Codec;

    fn request(format: Option<&str>, max: Option<u32>) -> Request {
        Request { format: format.map(|f| Choice::parse(f).expect("a known format")), max_bitrate: max, offset_secs: 0 }
    }

    fn transcode(format: Format, bitrate: u32) -> Plan {
        Plan::Transcode(Rendition { format, bitrate })
    }

    #[test]
    fn the_stored_file_goes_out_whenever_it_fits() {
        let cases = [
            (Codec::Flac, Some(900), request(None, None), Plan::Original, "nothing asked"),
            (Codec::Flac, Some(900), request(None, Some(0)), Plan::Original, "Subsonic's 0 is no ceiling"),
            (Codec::Mp3, Some(128), request(None, Some(160)), Plan::Original, "under the ceiling"),
            (Codec::Mp3, Some(160), request(None, Some(160)), Plan::Original, "at the ceiling"),
            (Codec::Mp3, Some(320), request(Some("raw"), Some(96)), Plan::Original, "raw wins"),
            (Codec::Opus, Some(96), request(Some("opus"), Some(128)), Plan::Original, "already that format"),
            (Codec::Aac, Some(128), request(Some("m4a"), None), Plan::Original, "m4a names AAC"),
        ];
        for (codec, kbps, request, expected, why) in cases {
            assert_eq!(plan(codec, kbps, &request, Format::Mp3, 160), expected, "{why}");
        }
    }

    #[test]
    fn anything_else_is_transcoded_at_a_step() {
        let cases = [
            (
                Codec::Flac,
                Some(900),
                request(None, Some(128)),
                transcode(Format::Mp3, 128),
                "over the ceiling: default format",
            ),
            (Codec::Mp3, Some(320), request(None, Some(100)), transcode(Format::Mp3, 96), "rounded down to a step"),
            (Codec::Mp3, Some(320), request(None, Some(8)), transcode(Format::Mp3, 32), "never below the lowest step"),
            (Codec::Mp3, Some(320), request(None, Some(10_000)), Plan::Original, "a huge ceiling fits"),
            (Codec::Flac, Some(900), request(None, Some(10_000)), Plan::Original, "lossless too, when under it"),
            (Codec::Alac, None, request(None, Some(320)), transcode(Format::Mp3, 320), "unknown bitrate never fits"),
            (
                Codec::Flac,
                Some(900),
                request(Some("opus"), None),
                transcode(Format::Opus, 160),
                "format: default bitrate",
            ),
            (Codec::Mp3, Some(128), request(Some("opus"), Some(96)), transcode(Format::Opus, 96), "another format"),
            (Codec::Opus, Some(256), request(Some("opus"), Some(96)), transcode(Format::Opus, 96), "same format, over"),
            (Codec::WavPack, Some(700), request(Some("AAC"), Some(256)), transcode(Format::Aac, 256), "any case"),
        ];
        for (codec, kbps, request, expected, why) in cases {
            assert_eq!(plan(codec, kbps, &request, Format::Mp3, 160), expected, "{why}");
        }
    }

    #[test]
    fn steps_and_names() {
        assert_eq!(bitrate_step(320), 320);
        assert_eq!(bitrate_step(319), 256);
        assert_eq!(bitrate_step(0), 32);
        assert_eq!(Choice::parse("RAW"), Some(Choice::Raw));
        assert_eq!(Choice::parse("flac"), None, "Fermata does not transcode to lossless");
        for format in Format::ALL {
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
    }
}
