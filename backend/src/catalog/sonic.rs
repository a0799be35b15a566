//! Listening by sound: similar songs and song radio (the rules are the core's: `fermata_core::catalog::similar`
//! and `radio`).

use axum::{extract::State, http::StatusCode};
use fermata_core::catalog::{
    radio::{self, Feedback, Limits},
    similar::{self, Seed},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::views::{SimilarQuery, SongView};
use crate::{
    accounts::session::CurrentUser,
    error::{AppResult, ErrorBody},
    extract::{Path, ValidJson, ValidQuery},
    state::AppState,
};

/// The songs that sound most like this one, closest first (never the song itself).
#[utoipa::path(get, path = "/api/music/songs/{id}/similar", tag = "catalog", params(("id" = Uuid, Path), SimilarQuery), responses(
    (status = 200, body = Vec<SongView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "The song has not been analysed yet (`not_analysed`)", body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 429, description = "The replica started moments ago and is still loading the catalogue", body = ErrorBody),
))]
pub async fn similar(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidQuery(query): ValidQuery<SimilarQuery>,
) -> AppResult<axum::Json<Vec<SongView>>> {
    let seed = Seed::Song(id.into());
    let songs = similar::similar(&state.db, &state.search, user.id(), seed, query.limit, query.other_albums).await?;
    Ok(axum::Json(songs.into_iter().map(|found| found.song.into()).collect()))
}

/// What a radio starts from: exactly one of them.
#[derive(Debug, Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RadioSeed {
    Song(Uuid),
    Album(Uuid),
    Artist(Uuid),
    Playlist(Uuid),
}

impl From<RadioSeed> for Seed {
    fn from(seed: RadioSeed) -> Self {
        match seed {
            RadioSeed::Song(id) => Self::Song(id.into()),
            RadioSeed::Album(id) => Self::Album(id.into()),
            RadioSeed::Artist(id) => Self::Artist(id.into()),
            RadioSeed::Playlist(id) => Self::Playlist(id.into()),
        }
    }
}

impl From<Seed> for RadioSeed {
    fn from(seed: Seed) -> Self {
        match seed {
            Seed::Song(id) => Self::Song(id.0),
            Seed::Album(id) => Self::Album(id.0),
            Seed::Artist(id) => Self::Artist(id.0),
            Seed::Playlist(id) => Self::Playlist(id.0),
        }
    }
}

fn default_batch() -> u64 {
    10
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRadio {
    /// `{"song": id}`, `{"album": id}`, `{"artist": id}` or `{"playlist": id}`.
    pub seed: RadioSeed,
    /// Slowest tempo the radio plays (BPM).
    #[validate(range(min = 0.0, max = 1000.0))]
    #[schema(minimum = 0, maximum = 1000)]
    pub bpm_min: Option<f32>,
    /// Fastest tempo the radio plays (BPM).
    #[validate(range(min = 0.0, max = 1000.0))]
    #[schema(minimum = 0, maximum = 1000)]
    pub bpm_max: Option<f32>,
    /// Only songs in this key ("A minor", "F#", "8A").
    #[validate(length(max = 20), custom(function = "fermata_core::sonic::key_text"))]
    #[schema(max_length = 20)]
    pub key: Option<String>,
    /// Songs in the first batch.
    #[serde(default = "default_batch")]
    #[validate(range(min = 1, max = 50))]
    #[schema(minimum = 1, maximum = 50, default = 10)]
    pub limit: u64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NextSongs {
    /// Songs of this radio listened to through since the last call: the radio moves towards them.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100)]
    pub played: Vec<Uuid>,
    /// Songs of this radio skipped since the last call: the radio moves away from them.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100)]
    pub skipped: Vec<Uuid>,
    #[serde(default = "default_batch")]
    #[validate(range(min = 1, max = 50))]
    #[schema(minimum = 1, maximum = 50, default = 10)]
    pub limit: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RadioView {
    /// Name it in `/api/radio/{id}/next` for more.
    pub id: Uuid,
    pub seed: RadioSeed,
    pub bpm_min: Option<f32>,
    pub bpm_max: Option<f32>,
    pub key: Option<String>,
    /// The next songs, none handed out before by this radio. Empty when nothing that fits is left.
    pub songs: Vec<SongView>,
}

impl From<radio::Radio> for RadioView {
    fn from(radio: radio::Radio) -> Self {
        Self {
            id: radio.id,
            seed: radio.seed.into(),
            bpm_min: radio.limits.bpm_min,
            bpm_max: radio.limits.bpm_max,
            key: radio.limits.key.map(|k| k.to_string()),
            songs: radio.songs.into_iter().map(Into::into).collect(),
        }
    }
}

/// Start a radio from a song, album, artist or playlist: the first songs of a queue that keeps going with songs
/// that sound close to the seed and follow what is played or skipped, never repeating. A listener keeps at most
/// 10 radios; starting another ends the least recently used.
#[utoipa::path(post, path = "/api/radio", tag = "catalog", request_body = StartRadio, responses(
    (status = 201, body = RadioView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "Nothing of the seed has been analysed yet (`not_analysed`)", body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
pub async fn start(
    State(state): State<AppState>,
    user: CurrentUser,
    ValidJson(body): ValidJson<StartRadio>,
) -> AppResult<(StatusCode, axum::Json<RadioView>)> {
    let limits = Limits { bpm_min: body.bpm_min, bpm_max: body.bpm_max, key: body.key.and_then(|k| k.parse().ok()) };
    let radio = radio::start(&state.db, &state.search, user.id(), body.seed.into(), limits, body.limit).await?;
    Ok((StatusCode::CREATED, axum::Json(radio.into())))
}

/// The next songs of a radio, after telling it what was played through and what was skipped.
#[utoipa::path(post, path = "/api/radio/{id}/next", tag = "catalog", params(("id" = Uuid, Path)), request_body = NextSongs, responses(
    (status = 200, body = RadioView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
))]
pub async fn next(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidJson(body): ValidJson<NextSongs>,
) -> AppResult<axum::Json<RadioView>> {
    let feedback = Feedback {
        played: body.played.into_iter().map(Into::into).collect(),
        skipped: body.skipped.into_iter().map(Into::into).collect(),
    };
    let radio = radio::next(&state.db, &state.search, user.id(), id, feedback, body.limit).await?;
    Ok(axum::Json(radio.into()))
}

/// End a radio.
#[utoipa::path(delete, path = "/api/radio/{id}", tag = "catalog", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
))]
pub async fn end(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    radio::end(&state.db, user.id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
