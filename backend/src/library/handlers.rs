//! Admin ingest endpoints (upload, edit, delete, scan) and the background jobs (analysis, scan).

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use fermata_core::{
    catalog::{
        self,
        ingest::{self, Edited, TagEdit},
    },
    entities::songs,
    jobs as queue,
};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{
    ImportError, Imported,
    multipart::{self, display_name},
};
use crate::{
    accounts::session::{AdminUser, CurrentUser},
    catalog::views::SongView,
    error::{AppError, AppResult, ErrorBody, ErrorDetail},
    events::{self, Audience},
    extract::{Path, ValidJson},
    jobs::JobView,
    state::AppState,
};

/// Files accepted in one upload request.
pub const MAX_FILES_PER_REQUEST: usize = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct FileResult {
    /// The name the browser gave (shown to people, never used as a path).
    pub file: Option<String>,
    /// 201 added, 409 duplicate, 413 too large, 415 not audio, 422 unusable.
    pub status: u16,
    /// The added song, or the one already holding the same audio.
    pub song: Option<SongView>,
    pub error: Option<ErrorDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResults {
    pub results: Vec<FileResult>,
}

fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> (StatusCode, ErrorDetail) {
    (status, ErrorDetail { code: code.to_owned(), message: message.into(), fields: None })
}

/// A multipart error as the answer for the whole request.
fn multipart_error(error: multer::Error, limit: u64) -> AppError {
    match error {
        multer::Error::StreamSizeExceeded { .. } => AppError::PayloadTooLarge(too_large(limit)),
        multer::Error::UnknownField { field_name } => AppError::field(
            "file",
            format!("only `file` parts are accepted, not `{}`", field_name.as_deref().unwrap_or("(unnamed)")),
        ),
        other => AppError::BadRequest(format!("malformed multipart body: {other}")),
    }
}

fn too_large(limit: u64) -> String {
    format!("an upload may carry at most {limit} bytes (MAX_UPLOAD_BYTES); send large files one at a time")
}

/// Streams one multipart field to a temp file on the media volume while hashing it, then adds it.
async fn receive(
    state: &AppState,
    user: fermata_core::ids::UserId,
    mut field: multer::Field<'static>,
    request_size: Option<u64>,
    received: &mut u64,
    since_data: &std::sync::atomic::AtomicU64,
) -> FileResult {
    let file = field.file_name().map(display_name);
    let mut last_report = std::time::Instant::now();
    let started = std::time::Instant::now();
    let outcome = async {
        let temp = state.media.temp_file().map_err(|e| {
            tracing::error!("cannot create an upload temp file: {e:#}");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "cannot store the upload")
        })?;
        let mut out =
            tokio::fs::File::from_std(temp.reopen().map_err(|_| {
                refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "cannot store the upload")
            })?);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let limit = state.config.max_upload_bytes;
        loop {
            let chunk = field.chunk().await.map_err(|e| match e {
                multer::Error::StreamSizeExceeded { .. } => {
                    refusal(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", too_large(limit))
                }
                e => refusal(StatusCode::BAD_REQUEST, "bad_request", format!("the upload broke off: {e}")),
            })?;
            let Some(chunk) = chunk else { break };
            since_data.store(0, std::sync::atomic::Ordering::Relaxed);
            size += chunk.len() as u64;
            *received += chunk.len() as u64;
            // The limit bounds the request (as nginx's client_max_body_size does), so a body without a length
            // is counted across all its files.
            if *received > limit {
                return Err(refusal(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", too_large(limit)));
            }
            hasher.update(&chunk);
            if last_report.elapsed() >= std::time::Duration::from_millis(250) {
                last_report = std::time::Instant::now();
                // The request's length bounds the file's; exact for the usual one-file upload.
                let percent = request_size.map(|total| (size as f64 * 1000.0 / total.max(1) as f64).round() / 10.0);
                let progress = serde_json::json!({
                    "task": "upload", "file": file, "done": size, "total": request_size, "percent": percent,
                    "bytes_per_second": (size as f64 / started.elapsed().as_secs_f64().max(1e-3)).round(),
                });
                events::publish(&state.db, "upload.progress", Audience::Admin, progress).await;
            }
            out.write_all(&chunk)
                .await
                .map_err(|_| refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "cannot store the upload"))?;
        }
        out.flush()
            .await
            .map_err(|_| refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "cannot store the upload"))?;
        drop(out);
        if size == 0 {
            return Err(refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_audio", "the file is empty"));
        }
        let hash = hex::encode(hasher.finalize());
        // Without a file name the title falls back to "Untitled", never to the temp file's name.
        let name = file.as_deref().unwrap_or("Untitled");
        match super::import_temp(&state.db, &state.media, temp, Some(name), Some(hash)).await {
            Ok(imported) => Ok(imported),
            Err(ImportError::NotAudio(reason)) => {
                Err(refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_audio", format!("not playable audio: {reason}")))
            }
            // The bucket (MEDIA_STORE=s3) could not be reached or refused the request: nothing was kept, and
            // the same upload may be sent again.
            Err(ImportError::Other(e)) if e.downcast_ref::<fermata_core::objects::ObjectError>().is_some() => {
                tracing::warn!("upload not stored: {e:#}");
                Err(refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the media store cannot be reached; try again shortly",
                ))
            }
            Err(e) => {
                tracing::error!("upload failed: {e:#}");
                Err(refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "cannot store the upload"))
            }
        }
    }
    .await;
    match outcome {
        Ok(Imported::Added(id)) => {
            if let Err(e) = queue::enqueue_analysis(&state.db, &[id]).await {
                tracing::warn!(song = %id, "cannot queue analysis: {e}");
            }
            let song = catalog::song(&state.db, user, id).await.ok().flatten().map(SongView::from);
            events::publish(
                &state.db,
                "upload.done",
                Audience::Admin,
                serde_json::json!({"song_id": id, "file": file}),
            )
            .await;
            FileResult { file, status: 201, song, error: None }
        }
        Ok(Imported::Duplicate(id)) => {
            let song = catalog::song(&state.db, user, id).await.ok().flatten().map(SongView::from);
            let error = ErrorDetail {
                code: "duplicate".into(),
                message: "this audio is already in the library".into(),
                fields: None,
            };
            FileResult { file, status: 409, song, error: Some(error) }
        }
        Err((status, error)) => FileResult { file, status: status.as_u16(), song: None, error: Some(error) },
    }
}

/// Upload songs (multipart, field `file`, repeatable). One file: the status is that file's outcome (201
/// with the song, 409 with the existing song, 413, 415, 422). Several: 200 with a result per file.
#[utoipa::path(post, path = "/api/music/songs", tag = "ingest", request_body(content_type = "multipart/form-data", content = String), responses(
    (status = 201, body = SongView), (status = 200, body = UploadResults), (status = 409, body = FileResult),
    (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub async fn upload(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    request: Request,
) -> AppResult<Response> {
    // Heavy work: refused while memory is short.
    state.memory.admit()?;
    // multer straight on the body stream: the request may be far larger than the JSON body limit, and each
    // file's own limit is enforced while it streams.
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            AppError::UnsupportedMediaType("send the files as multipart/form-data in the field `file`".into())
        })?;
    let request_size: Option<u64> =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    // MAX_UPLOAD_BYTES bounds one request, files and multipart framing together, the same number nginx's
    // client_max_body_size holds in front: a body announced larger is refused before a byte of it is read.
    let limit = state.config.max_upload_bytes;
    if request_size.is_some_and(|size| size > limit) {
        return Err(AppError::PayloadTooLarge(too_large(limit)));
    }
    let (mut multipart, since_data) = multipart::files(request.into_body().into_data_stream(), boundary, limit);
    let mut results = Vec::new();
    let mut received = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if results.is_empty() => return Err(multipart_error(e, limit)),
            Err(e) => {
                // Files before this point were imported: say so, and why the rest was not read.
                let (status, error) = match multipart_error(e, limit) {
                    AppError::PayloadTooLarge(message) => {
                        refusal(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                    }
                    other => refusal(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", other.to_string()),
                };
                results.push(FileResult { file: None, status: status.as_u16(), song: None, error: Some(error) });
                break;
            }
        };
        if results.len() == MAX_FILES_PER_REQUEST {
            // The files so far are in the library; the answer says which, and that the rest was not read.
            let message =
                format!("at most {MAX_FILES_PER_REQUEST} files per request; this file and any after it were not read");
            let error = refusal(StatusCode::UNPROCESSABLE_ENTITY, "too_many_files", message).1;
            results.push(FileResult {
                file: field.file_name().map(display_name),
                status: 422,
                song: None,
                error: Some(error),
            });
            break;
        }
        let result = receive(&state, admin.id(), field, request_size, &mut received, &since_data).await;
        let stop = result.status == 413;
        results.push(result);
        if stop {
            // The rest of the body is not read: the limit is enforced while streaming.
            break;
        }
    }
    match results.len() {
        0 => Err(AppError::field("file", "attach at least one file in the `file` field")),
        1 => {
            let result = results.pop().expect("one result");
            let status = StatusCode::from_u16(result.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Ok(match (status, result.song) {
                (StatusCode::CREATED, Some(song)) => (status, axum::Json(song)).into_response(),
                (StatusCode::CONFLICT, song) => {
                    (status, axum::Json(serde_json::json!({"error": result.error, "song": song}))).into_response()
                }
                _ => (status, axum::Json(serde_json::json!({"error": result.error}))).into_response(),
            })
        }
        _ => Ok((StatusCode::OK, axum::Json(UploadResults { results })).into_response()),
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SongEdit {
    /// The `version` the edit was based on; a stale one gets 409 with the current song.
    pub version: i32,
    #[validate(length(min = 1, max = 500), custom(function = "crate::extract::text_line"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub title: Option<String>,
    #[validate(length(min = 1, max = 500), custom(function = "crate::extract::text_line"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub artist: Option<String>,
    #[validate(length(min = 1, max = 500), custom(function = "crate::extract::text_line"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub album: Option<String>,
    #[validate(length(min = 1, max = 500), custom(function = "crate::extract::text_line"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub album_artist: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(range(min = 0, max = 9999))]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 9999)]
    pub track: Option<Option<i32>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(range(min = 0, max = 999))]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 999)]
    pub disc: Option<Option<i32>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(range(min = 0, max = 9999))]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 9999)]
    pub year: Option<Option<i32>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 200), custom(function = "crate::extract::no_nul"))]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00]*$")]
    pub genre: Option<Option<String>>,
    /// Tempo in BPM, 20 to 400: kept through later analyses. `null` goes back to the measured tempo.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(range(min = 20.0, max = 400.0))]
    #[schema(value_type = Option<f32>, minimum = 20, maximum = 400)]
    pub bpm: Option<Option<f32>>,
    /// Key: "A minor", "Am", "F# major", "Eb minor" or Camelot "8A". `null` goes back to the measured key.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 20), custom(function = "fermata_core::sonic::key_text"))]
    #[schema(value_type = Option<String>, max_length = 20)]
    pub key: Option<Option<String>>,
}

/// Edit a song's tags. Moves it to other artist and album rows as needed; albums and artists left empty go.
#[utoipa::path(patch, path = "/api/music/songs/{id}", tag = "ingest", params(("id" = Uuid, Path)), request_body = SongEdit, responses(
    (status = 200, body = SongView), (status = 404, body = ErrorBody), (status = 409, description = "stale version; the body holds the current song"),
    (status = 422, body = ErrorBody),
))]
pub async fn edit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(edit): ValidJson<SongEdit>,
) -> AppResult<Response> {
    let edit = TagEdit {
        version: edit.version,
        title: edit.title,
        artist: edit.artist,
        album: edit.album,
        album_artist: edit.album_artist,
        track: edit.track,
        disc: edit.disc,
        year: edit.year,
        genre: edit.genre,
        bpm: edit.bpm,
        // Checked by the body's validation.
        key: edit.key.map(|k| k.and_then(|k| k.parse().ok())),
    };
    let outcome = ingest::edit_tags(&state.db, id.into(), edit).await?;
    let song = catalog::song(&state.db, admin.id(), id.into()).await?.map(SongView::from);
    match (outcome, song) {
        (Edited::Applied, Some(song)) => Ok(axum::Json(song).into_response()),
        (Edited::Stale, song) => {
            let error = ErrorDetail {
                code: "stale_version".into(),
                message: "the song changed since you loaded it".into(),
                fields: None,
            };
            Ok((StatusCode::CONFLICT, axum::Json(serde_json::json!({"error": error, "song": song}))).into_response())
        }
        // Deleted since the edit committed.
        (Edited::Applied, None) => Err(AppError::NotFound),
    }
}

/// Delete a song: its playlist entries, favourites and plays, its file when nothing else refers to it, and
/// albums and artists left empty.
#[utoipa::path(delete, path = "/api/music/songs/{id}", tag = "ingest", params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 404, body = ErrorBody),
))]
pub async fn delete(State(state): State<AppState>, _admin: AdminUser, Path(id): Path<Uuid>) -> AppResult<StatusCode> {
    let song = catalog::songs::file(&state.db, id.into()).await?.ok_or(AppError::NotFound)?;
    ingest::delete_song(&state.db, id.into()).await?;
    state.song_files.forget(id.into());
    // Files of the read-only library folder stay; uploads are content-addressed, so no other song shares them.
    if let Err(e) = state.media.remove(song.storage, &song.path).await {
        tracing::warn!(path = %song.path, "cannot remove a deleted song's file: {e:#}");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Peaks {
    /// Loudest sample per slice of the song, 0 to 255, left to right.
    pub peaks: Vec<u8>,
    pub loudness_lufs: Option<f32>,
    pub true_peak_db: Option<f32>,
}

/// Waveform peaks for the seek bar (404 until the song is analysed, or when its codec cannot be decoded).
#[utoipa::path(get, path = "/api/music/songs/{id}/peaks", tag = "streaming", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Peaks), (status = 404, body = ErrorBody),
))]
pub async fn peaks(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<Uuid>,
) -> AppResult<axum::Json<Peaks>> {
    let song = songs::Entity::find_by_id(id).one(&state.db).await?.ok_or(AppError::NotFound)?;
    let peaks = song.peaks.ok_or(AppError::NotFound)?;
    Ok(axum::Json(Peaks { peaks, loudness_lufs: song.loudness_lufs, true_peak_db: song.true_peak_db }))
}

/// Start a scan of MUSIC_DIR in the background. 409 while one is queued or running on any replica.
#[utoipa::path(post, path = "/api/admin/scan", tag = "admin", responses(
    (status = 202, body = JobView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub async fn start_scan(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> AppResult<(StatusCode, axum::Json<JobView>)> {
    if state.config.music_dir.is_none() {
        return Err(AppError::Unprocessable("no library folder: set MUSIC_DIR".into()));
    }
    // Heavy work: refused while memory is short.
    state.memory.admit()?;
    let job = queue::enqueue_scan(&state.db).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job.into())))
}

/// Analyse again every song the current sonic measures (tempo, key, vector) have not seen, in the background,
/// with progress to admins as `analysis.progress` events. 409 while one is queued or running on any replica.
#[utoipa::path(post, path = "/api/admin/analysis", tag = "admin", responses(
    (status = 202, body = JobView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub async fn start_backfill(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> AppResult<(StatusCode, axum::Json<JobView>)> {
    state.memory.admit()?;
    let job = queue::enqueue_backfill(&state.db).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanStatus {
    /// The latest scan: its status, and in `progress` the counts, files per second and skipped files.
    pub job: Option<JobView>,
}

#[utoipa::path(get, path = "/api/admin/scan", tag = "admin", responses((status = 200, body = ScanStatus), (status = 403, body = ErrorBody)))]
pub async fn scan_status(State(state): State<AppState>, _admin: AdminUser) -> AppResult<axum::Json<ScanStatus>> {
    let job = queue::latest_scan(&state.db).await?;
    Ok(axum::Json(ScanStatus { job: job.map(JobView::from) }))
}
