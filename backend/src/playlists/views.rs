//! JSON shapes of playlists.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::catalog::views::{NamedRef, SongView};

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreatePlaylist {
    #[serde(default)]
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::extract::text_line")
    )]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub name: String,
    #[validate(
        length(max = 2000, message = "must be at most 2000 characters"),
        custom(function = "crate::extract::no_nul")
    )]
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    pub description: Option<String>,
    #[serde(default)]
    pub public: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlaylist {
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::extract::text_line")
    )]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(
        length(max = 2000, message = "must be at most 2000 characters"),
        custom(function = "crate::extract::no_nul")
    )]
    #[schema(value_type = Option<String>, max_length = 2000, pattern = r"^[^\x00]*$")]
    pub description: Option<Option<String>>,
    pub public: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AddEntries {
    /// Songs to add, in order; duplicates allowed.
    #[validate(length(min = 1, max = 1000, message = "give 1 to 1000 song ids"))]
    #[schema(min_items = 1, max_items = 1000)]
    pub song_ids: Vec<Uuid>,
    /// 0-based position of the first new entry; absent: at the end.
    pub position: Option<u32>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct MoveEntry {
    /// The entry's new 0-based position.
    pub position: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaylistView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub public: bool,
    pub owner: NamedRef,
    pub song_count: i64,
    /// Seconds.
    pub duration: f64,
    /// The album cover of the first entry that has one.
    pub cover_url: Option<String>,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    pub position: i64,
    pub song: SongView,
}

/// A playlist with the first page of its entries; `entries_next_cursor` pages on through
/// `GET /api/playlists/{id}/entries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaylistDetail {
    #[serde(flatten)]
    pub playlist: PlaylistView,
    pub entries: Vec<EntryView>,
    pub entries_next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Name of the new playlist; default: the file's `#PLAYLIST:` line, else "Imported playlist".
    #[validate(length(min = 1, max = 100), custom(function = "crate::extract::text_line"))]
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub playlist: PlaylistView,
    /// Lines naming a song that is not in the library.
    pub unmatched: Vec<String>,
}
