//! JSON shapes of the catalog.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use fermata_core::catalog::{
    Song,
    browse::{Album, Artist, Period as CorePeriod},
    songs::SongSort as CoreSort,
};
use sea_orm::sea_query::Order as CoreOrder;

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SongView {
    pub id: Uuid,
    pub title: String,
    pub artist: NamedRef,
    pub album: NamedRef,
    pub track: Option<i32>,
    pub disc: Option<i32>,
    /// Seconds.
    pub duration: f64,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub codec: String,
    /// kbit/s
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub play_count: i64,
    pub favourite: bool,
    /// Integrated loudness (LUFS) once analysed, for loudness normalisation.
    pub loudness_lufs: Option<f32>,
    pub true_peak_db: Option<f32>,
    /// Tempo in beats per minute, measured from the audio or as an admin corrected it.
    pub bpm: Option<f32>,
    /// Musical key, e.g. "A minor" or "F# major".
    pub key: Option<String>,
    /// The key in Camelot notation, e.g. "8A".
    pub camelot: Option<String>,
    /// Send back in `If-Match` when editing.
    pub version: i32,
    pub added_at: DateTime<FixedOffset>,
    pub cover_url: Option<String>,
    pub stream_url: String,
}

impl From<Song> for SongView {
    fn from(r: Song) -> Self {
        let key = r.key();
        Self {
            cover_url: r.has_cover.then(|| format!("/api/music/songs/{}/cover", r.id)),
            stream_url: format!("/api/music/songs/{}/stream", r.id),
            id: r.id.0,
            title: r.title,
            artist: NamedRef { id: r.artist_id.0, name: r.artist_name },
            album: NamedRef { id: r.album_id.0, name: r.album_title },
            track: r.track_number,
            disc: r.disc_number,
            duration: f64::from(r.duration_ms) / 1000.0,
            genre: r.genre,
            year: r.year,
            codec: r.codec.as_str().to_owned(),
            bitrate: r.bitrate,
            sample_rate: r.sample_rate,
            play_count: r.play_count,
            favourite: r.favourite,
            loudness_lufs: r.loudness_lufs,
            true_peak_db: r.true_peak_db,
            bpm: r.bpm,
            key: key.map(|k| k.to_string()),
            camelot: key.map(|k| k.camelot()),
            version: r.version,
            added_at: r.added_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SongSort {
    #[default]
    Title,
    Artist,
    Album,
    Added,
    Plays,
    Duration,
}

impl From<SongSort> for CoreSort {
    fn from(sort: SongSort) -> Self {
        match sort {
            SongSort::Title => Self::Title,
            SongSort::Artist => Self::Artist,
            SongSort::Album => Self::Album,
            SongSort::Added => Self::Added,
            SongSort::Plays => Self::Plays,
            SongSort::Duration => Self::Duration,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl From<Order> for CoreOrder {
    fn from(order: Order) -> Self {
        match order {
            Order::Asc => Self::Asc,
            Order::Desc => Self::Desc,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SongQuery {
    /// Words anywhere in title, artist or album (accent- and case-insensitive).
    #[validate(length(max = 200), custom(function = "crate::extract::no_nul"))]
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    pub q: Option<String>,
    /// Artist id or exact name.
    #[validate(length(max = 500), custom(function = "crate::extract::no_nul"))]
    #[param(max_length = 500, pattern = r"^[^\x00]*$")]
    pub artist: Option<String>,
    /// Album id or exact title.
    #[validate(length(max = 500), custom(function = "crate::extract::no_nul"))]
    #[param(max_length = 500, pattern = r"^[^\x00]*$")]
    pub album: Option<String>,
    #[validate(length(max = 200), custom(function = "crate::extract::no_nul"))]
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    pub genre: Option<String>,
    #[validate(range(min = 0, max = 9999))]
    #[param(minimum = 0, maximum = 9999)]
    pub year: Option<i32>,
    /// Slowest tempo (BPM, inclusive); songs of unknown tempo are left out by either bound.
    #[validate(range(min = 0.0, max = 1000.0))]
    #[param(minimum = 0, maximum = 1000)]
    pub bpm_min: Option<f32>,
    /// Fastest tempo (BPM, inclusive).
    #[validate(range(min = 0.0, max = 1000.0))]
    #[param(minimum = 0, maximum = 1000)]
    pub bpm_max: Option<f32>,
    /// Only songs in this key: "A minor", "Am", "F#", "Eb minor" or Camelot "8A".
    #[validate(length(max = 20), custom(function = "fermata_core::sonic::key_text"))]
    #[param(max_length = 20)]
    pub key: Option<String>,
    #[serde(default)]
    #[param(inline)]
    pub sort: SongSort,
    #[serde(default)]
    #[param(inline)]
    pub order: Order,
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 500))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: u64,
    #[validate(length(max = 2000))]
    #[param(max_length = 2000)]
    pub cursor: Option<String>,
}

pub fn default_limit() -> u64 {
    50
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 500))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: u64,
    #[validate(length(max = 2000))]
    #[param(max_length = 2000)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlbumView {
    pub id: Uuid,
    pub title: String,
    pub artist: NamedRef,
    pub year: Option<i32>,
    pub compilation: bool,
    pub song_count: i64,
    /// Seconds.
    pub duration: f64,
    pub cover_url: Option<String>,
}

impl From<Album> for AlbumView {
    fn from(r: Album) -> Self {
        Self {
            cover_url: r.has_cover.then(|| format!("/api/music/albums/{}/cover", r.id)),
            id: r.id.0,
            title: r.title,
            artist: NamedRef { id: r.artist_id.0, name: r.artist_name },
            year: r.year,
            compilation: r.compilation,
            song_count: r.song_count,
            duration: r.duration_ms as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlbumDetail {
    #[serde(flatten)]
    pub album: AlbumView,
    /// Ordered by disc, then track.
    pub songs: Vec<SongView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistView {
    pub id: Uuid,
    pub name: String,
    pub album_count: i64,
    pub song_count: i64,
}

impl From<Artist> for ArtistView {
    fn from(r: Artist) -> Self {
        Self { id: r.id.0, name: r.name, album_count: r.album_count, song_count: r.song_count }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistDetail {
    #[serde(flatten)]
    pub artist: ArtistView,
    pub albums: Vec<AlbumView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenreView {
    pub name: String,
    pub song_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenrePage {
    pub items: Vec<GenreView>,
    pub next_offset: Option<u64>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OffsetQuery {
    #[serde(default)]
    #[validate(range(max = 1_000_000))]
    #[param(maximum = 1_000_000)]
    pub offset: u64,
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 500))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Week,
    Month,
    #[default]
    All,
}

impl From<Period> for CorePeriod {
    fn from(period: Period) -> Self {
        match period {
            Period::Week => Self::Week,
            Period::Month => Self::Month,
            Period::All => Self::All,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    #[serde(default)]
    #[param(inline)]
    pub period: Period,
    #[serde(default = "default_chart_limit")]
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
}

fn default_chart_limit() -> u64 {
    20
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChartEntry {
    /// Plays in the period.
    pub plays: i64,
    pub song: SongView,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        custom(function = "crate::extract::no_nul")
    )]
    #[param(min_length = 1, max_length = 200, pattern = r"^[^\x00]*$")]
    pub q: String,
    #[serde(default = "default_search_limit")]
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
}

fn default_search_limit() -> u64 {
    20
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub songs: Vec<SongView>,
    pub albums: Vec<AlbumView>,
    pub artists: Vec<ArtistView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlayResult {
    /// False when the same listener played the song within half its duration: not counted again.
    pub counted: bool,
    pub play_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub played_at: DateTime<FixedOffset>,
    pub song: SongView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FavouriteEntry {
    pub favourited_at: DateTime<FixedOffset>,
    pub song: SongView,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverQuery {
    /// Thumbnail edge in pixels: 64, 128, 300 or 600. Absent: the original image.
    #[validate(custom(function = "cover_size"))]
    #[param(minimum = 64, maximum = 600)]
    pub size: Option<u32>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// `opus`, `mp3`, `aac` for a transcode (unless the stored file already is that format within
    /// `max_bitrate`), `raw` for the stored file whatever else is asked. Absent: the stored file, or Opus when
    /// it is over `max_bitrate`.
    #[validate(custom(function = "stream_format"))]
    #[param(max_length = 4, pattern = "^(opus|mp3|aac|raw)$")]
    pub format: Option<String>,
    /// Highest bitrate wanted, kbit/s (0: no ceiling). A transcode is made at the nearest of 32, 48, 64, 96, 112,
    /// 128, 160, 192, 224, 256, 320 at or below it.
    #[validate(range(max = 100_000))]
    #[param(minimum = 0, maximum = 100_000)]
    pub max_bitrate: Option<u32>,
    /// Seconds into the song a transcode starts at (a seek before the transcode is finished). Ignored for the
    /// stored file, which has ranges.
    #[validate(range(max = 86_400))]
    #[param(minimum = 0, maximum = 86_400)]
    pub offset: Option<u32>,
}

/// The REST API takes the four names it documents, exactly (Subsonic apps get the lenient parse).
fn stream_format(format: &str) -> Result<(), validator::ValidationError> {
    match format {
        "opus" | "mp3" | "aac" | "raw" => Ok(()),
        _ => Err(validator::ValidationError::new("format").with_message("must be opus, mp3, aac or raw".into())),
    }
}

pub const COVER_SIZES: [u32; 4] = [64, 128, 300, 600];

fn cover_size(size: u32) -> Result<(), validator::ValidationError> {
    if COVER_SIZES.contains(&size) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("size").with_message("must be 64, 128, 300 or 600".into()))
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    #[serde(default = "default_similar")]
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
    /// Leave out the song's own album.
    #[serde(default)]
    pub other_albums: bool,
}

fn default_similar() -> u64 {
    20
}
