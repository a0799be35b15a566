//! Audio streaming with RFC 9110 ranges, and cover art with cached thumbnails.

use std::{path::Path as FsPath, sync::Arc, time::SystemTime};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use http_range_header::{RangeUnsatisfiableError, parse_range_header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use fermata_core::{
    catalog,
    catalog::songs::SongFile,
    media::{Opened, Storage},
    tags::Codec,
    transcode,
};

use super::views::{CoverQuery, StreamQuery};
use crate::{
    accounts::session::CurrentUser,
    config::MediaDelivery,
    covers,
    error::{AppError, AppResult, ErrorBody},
    extract::{Path, ValidQuery},
    state::AppState,
};

/// A range up to this size (players probe with 64 KiB) is read in one go: one trip to the blocking pool.
const RANGE_READ: u64 = 64 * 1024;
/// Longer bodies go this much at a time. Each stream holds about three such buffers (tokio's file buffer,
/// the stream's, the one being written), so this bounds memory per listener: 200 listeners measured 59–66 MiB
/// with 64 KiB chunks, over the 64 MiB target on some runs. Throughput is no concern at this size: one
/// listener needs ~40 KB/s and 16 KiB chunks still moved 124 whole 8 MiB files a second (docs/performance.md).
const STREAM_CHUNK: usize = 16 * 1024;

/// Set by nginx on its authorisation subrequest only (and stripped from clients' requests): the backend answers
/// with X-Accel-Redirect just then, so a redirect never reaches a client or nginx's other locations.
const ACCEL_REQUEST: &str = "x-fermata-accel";
/// The file nginx serves, relative to the storage's folder, every link resolved.
const ACCEL_FILE: &str = "x-fermata-file";

/// Characters left as they are in an X-Accel-Redirect path.
const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.');

/// The song's audio: the stored file, or a transcode when the query asks for one it does not already fit
/// (`format`, `max_bitrate`, `offset`; docs/api.md). The stored file and finished transcodes have ranges per RFC
/// 9110: `a-b`, `a-`, `-n`; an end past the length is clamped; an unsatisfiable range is 416 with
/// `Content-Range: bytes */len`; If-Range with the strong ETag or the exact Last-Modified (a mismatch sends the
/// whole file); several ranges get the whole file (200). A transcode still being made streams without a length
/// or ranges. Never buffered: bytes go from the file to the socket a chunk at a time.
#[utoipa::path(get, path = "/api/music/songs/{id}/stream", tag = "streaming", params(("id" = Uuid, Path), StreamQuery), responses(
    (status = 200, description = "the whole file, or a transcode being made"), (status = 206, description = "the requested range"),
    (status = 304), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 416),
    (status = 422, body = ErrorBody, description = "a bad parameter, or a file ffmpeg cannot read"),
    (status = 429, body = ErrorBody, description = "every transcoding slot is taken (Retry-After)"),
    (status = 503, body = ErrorBody, description = "the object store (MEDIA_STORE=s3) cannot be reached (Retry-After)"),
))]
pub async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidQuery(query): ValidQuery<StreamQuery>,
    method: axum::http::Method,
    request_headers: HeaderMap,
) -> AppResult<Response> {
    let request = transcode::Request {
        format: query.format.as_deref().and_then(transcode::Choice::parse),
        max_bitrate: query.max_bitrate,
        offset_secs: query.offset.unwrap_or(0),
    };
    let head = method == axum::http::Method::HEAD;
    serve_song(&state, user.id().0, id, &request, transcode::Format::Opus, head, &request_headers).await
}

/// A song's bytes for a caller already authorised (the REST stream, the Subsonic `stream` and `download`): the
/// stored file or a transcode, as [`transcode::plan`] decides (`default_format` when only a ceiling was given).
pub(crate) async fn serve_song(
    state: &AppState,
    user: Uuid,
    id: Uuid,
    request: &transcode::Request,
    default_format: transcode::Format,
    head: bool,
    request_headers: &HeaderMap,
) -> AppResult<Response> {
    let song = state.song_files.get(&state.db, id.into()).await?.ok_or(AppError::NotFound)?;
    let source_kbps = song.bitrate.and_then(|b| u32::try_from(b).ok());
    let plan =
        transcode::plan(song.codec, source_kbps, request, default_format, state.config.transcode_default_bitrate);
    match plan {
        transcode::Plan::Original => {
            let stored = Stored { storage: song.storage, relative: song.path.clone(), codec: Some(song.codec) };
            serve_file(state, id, stored, &song.content_hash, request_headers).await
        }
        transcode::Plan::Transcode(rendition) => {
            request.check(song.duration_ms)?;
            if head {
                // A HEAD asks what a GET would answer, not for the work: the headers of a live transcode (its
                // type, no length), and no ffmpeg started for them.
                let content_type = HeaderValue::from_static(rendition.format.live_content_type());
                let private = HeaderValue::from_static("private");
                return Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, private)])
                    .into_response());
            }
            serve_transcode(state, user, id, &song, rendition, request.offset_secs, request_headers).await
        }
    }
}

/// A transcode: the finished file when it is cached, otherwise the one being made (joined or started).
async fn serve_transcode(
    state: &AppState,
    user: Uuid,
    id: Uuid,
    song: &SongFile,
    rendition: transcode::Rendition,
    offset_secs: u32,
    request_headers: &HeaderMap,
) -> AppResult<Response> {
    // The tag names the source and the rendition: a changed source or another bitrate is another file.
    let tag = format!("{}-{}-{}", song.content_hash, rendition.format, rendition.bitrate);
    let cached = |relative| Stored { storage: Storage::Media, relative, codec: None };
    if offset_secs == 0
        && let Some(relative) = state.transcoder.cached(&song.content_hash, rendition).await
    {
        return serve_file(state, id, cached(relative), &tag, request_headers).await;
    }
    if accel_requested(state, request_headers) {
        // nginx's authorisation subrequest: nothing to redirect to yet. A 200 without X-Accel-Redirect sends the
        // request itself to the backend (@stream_backend), which starts or joins the transcode; the subrequest
        // must not start one.
        return Ok((StatusCode::OK, [(header::CACHE_CONTROL, HeaderValue::from_static("private"))]).into_response());
    }
    // Heavy work: refused while memory is short.
    state.memory.admit()?;
    // With MEDIA_STORE=s3 the source is fetched to a temp file first; ffmpeg has it open before `open` returns
    // (it waits for the first bytes out), so the copy may go when this handler does.
    let local = state.media.local_file(song.storage, &song.path).await?.ok_or_else(|| {
        tracing::warn!(song = %id, path = %song.path, "song file missing or outside its folder");
        AppError::NotFound
    })?;
    let path = local.path().to_owned();
    let source = transcode::Source { path, codec: song.codec, content_hash: song.content_hash.clone() };
    match state.transcoder.open(user, source, rendition, offset_secs).await? {
        transcode::Output::Cached { relative, .. } => {
            serve_file(state, id, cached(relative), &tag, request_headers).await
        }
        transcode::Output::Live { content_type, body } => Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
                (header::ACCEPT_RANGES, HeaderValue::from_static("none")),
            ],
            Body::from_stream(body),
        )
            .into_response()),
    }
}

/// A file to serve: where it is stored, and the codec of a song's own file (a transcode's type comes from its
/// extension, as nginx's does).
struct Stored {
    storage: Storage,
    relative: String,
    codec: Option<Codec>,
}

/// Whether this is nginx's authorisation subrequest in X-Accel mode.
fn accel_requested(state: &AppState, request_headers: &HeaderMap) -> bool {
    state.config.media_delivery == MediaDelivery::XAccel && request_headers.get(ACCEL_REQUEST).is_some_and(|v| v == "1")
}

/// A stored file with RFC 9110 ranges and validators, or an X-Accel-Redirect when nginx asked for one.
async fn serve_file(
    state: &AppState,
    id: Uuid,
    stored: Stored,
    tag: &str,
    request_headers: &HeaderMap,
) -> AppResult<Response> {
    let etag = HeaderValue::from_str(&format!("\"{tag}\"")).map_err(anyhow::Error::from)?;
    let accel = accel_requested(state, request_headers);
    let conditions = Conditions::of(request_headers);
    if let Some(objects) = state.media.objects_for(stored.storage) {
        return serve_object(state, objects.as_ref(), id, stored, etag, accel, &conditions).await;
    }
    let key = (stored.storage, stored.relative.clone());
    // Opened moments ago: answered on this thread when nothing has to wait for the disk.
    if let Some(opened) = state.open_files.0.get(&key)
        && state.media.still_names(stored.storage, &stored.relative, &opened)
        && let Some(response) = serve_opened(&opened, id, stored.storage, stored.codec, &etag, accel, &conditions)?
    {
        return Ok(response);
    }
    // Opened (and contained in its folder) before anything is promised, in both delivery modes.
    let media = state.media.clone();
    let Stored { storage, relative, codec } = stored;
    let prepared_etag = etag.clone();
    let (opened, answer) = tokio::task::spawn_blocking(move || {
        let Some(opened) = media.open(storage, &relative) else {
            tracing::warn!(song = %id, path = %relative, "file missing, unreadable or outside its folder");
            return None;
        };
        // Names with control characters cannot be a header value for nginx; those songs the backend sends.
        let to_nginx = accel && HeaderValue::from_bytes(opened.real_relative.as_bytes()).is_ok();
        // Decided here, and a player's small range read here too, so a typical request costs one trip to the
        // blocking pool instead of three (open, seek, read).
        let answer = (!to_nginx).then(|| conditions.answer(&opened.file, &opened.metadata, &prepared_etag));
        Some((opened, answer))
    })
    .await
    .map_err(anyhow::Error::from)?
    .ok_or(AppError::NotFound)?;
    let extension =
        FsPath::new(&opened.real_relative).extension().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
    let content_type = content_type(codec, &extension);

    let Some(answer) = answer else {
        // nginx serves the bytes (sendfile, ranges) from its internal location once we have authorised. The
        // file travels as is in its own header: nginx does not decode a URI it reaches through error_page, so a
        // percent-encoded name would not be found, and `?` or `%` in a name have no safe place in a URI. The
        // URI only carries the extension, for nginx's Content-Type. Names with control characters cannot be a
        // header value; those songs are sent by the backend itself.
        let file = HeaderValue::from_bytes(opened.real_relative.as_bytes()).map_err(anyhow::Error::from)?;
        state.open_files.0.insert(key, Arc::new(opened));
        return accel_redirect(storage.as_str(), id, &extension, file, content_type);
    };
    if !matches!(answer, Answer::Bytes { prefetched: None, .. }) {
        // Answered without streaming from the file: keep it open for the song's next ranges.
        let (len, modified) = (opened.metadata.len(), opened.metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        state.open_files.0.insert(key, Arc::new(opened));
        return respond(answer, len, modified, etag, content_type, no_body);
    }
    let len = opened.metadata.len();
    let modified = opened.metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let mut file = opened.file;
    respond(answer, len, modified, etag, content_type, move |start, length| {
        // lseek only moves the offset: no disk access, nothing to wait for.
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).map_err(anyhow::Error::from)?;
        let mut file = tokio::fs::File::from_std(file);
        file.set_max_buf_size(STREAM_CHUNK);
        Ok(Body::from_stream(ReaderStream::with_capacity(file.take(length), STREAM_CHUNK)))
    })
}

/// Files opened for streaming in the last 10 seconds, by storage and path (at most 256): a player asks for a song
/// in many small ranges, and each one after the first is then answered on the request's own thread, without the
/// trip to tokio's blocking pool that open, containment check and read otherwise need (that hop, thread wake-ups
/// and context switches, was most of a range's cost in the profile, docs/performance.md). The same trade as
/// nginx's `open_file_cache`, made stricter: each use checks with one `lstat` that the path still names the same
/// unchanged file (`MediaStore::still_names`: inode, size, mtime, no link swapped in), so a library file replaced,
/// rewritten, removed or relinked since is opened and contained afresh.
#[derive(Clone)]
pub struct OpenFiles(moka::sync::Cache<(Storage, String), Arc<Opened>>);

impl Default for OpenFiles {
    fn default() -> Self {
        Self(moka::sync::Cache::builder().max_capacity(256).time_to_live(std::time::Duration::from_secs(10)).build())
    }
}

/// Answers from an already opened file when that needs no disk wait: the X-Accel-Redirect, 304, 416, or a range
/// up to [`RANGE_READ`] whose bytes are in the page cache. None: take the blocking path.
fn serve_opened(
    opened: &Opened,
    id: Uuid,
    storage: Storage,
    codec: Option<Codec>,
    etag: &HeaderValue,
    accel: bool,
    conditions: &Conditions,
) -> AppResult<Option<Response>> {
    let extension = FsPath::new(&opened.real_relative).extension().and_then(|e| e.to_str()).unwrap_or_default();
    let content_type = content_type(codec, extension);
    if accel && let Ok(file) = HeaderValue::from_bytes(opened.real_relative.as_bytes()) {
        return accel_redirect(storage.as_str(), id, extension, file, content_type).map(Some);
    }
    let len = opened.metadata.len();
    let modified = opened.metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let answer = match conditions.decide(len, modified, etag) {
        Answer::Bytes { partial, start, end, prefetched: None } => {
            let length = if len == 0 { 0 } else { end - start + 1 };
            if length > RANGE_READ {
                return Ok(None);
            }
            let Some(bytes) = read_nowait(&opened.file, start, length) else { return Ok(None) };
            Answer::Bytes { partial, start, end, prefetched: Some(bytes) }
        }
        answer => answer,
    };
    respond(answer, len, modified, etag.clone(), content_type, no_body).map(Some)
}

/// The body of an answer that carries its bytes already (or none): `respond` never asks for it.
fn no_body(_: u64, _: u64) -> AppResult<Body> {
    Err(anyhow::anyhow!("no body to stream").into())
}

/// Reads `length` bytes at `start` only if they are in the page cache (preadv2 with RWF_NOWAIT); None when the
/// read would wait for the disk, or fails, or the system cannot say (then the blocking path reads).
#[cfg(target_os = "linux")]
fn read_nowait(file: &std::fs::File, start: u64, length: u64) -> Option<bytes::Bytes> {
    use rustix::io::{ReadWriteFlags, preadv2};
    let mut buffer = vec![0; usize::try_from(length).ok()?];
    let mut filled = 0;
    while filled < buffer.len() {
        let mut slices = [std::io::IoSliceMut::new(&mut buffer[filled..])];
        match preadv2(file, &mut slices, start + filled as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) | Err(_) => return None,
            Ok(n) => filled += n,
        }
    }
    Some(bytes::Bytes::from(buffer))
}

#[cfg(not(target_os = "linux"))]
fn read_nowait(_: &std::fs::File, _: u64, _: u64) -> Option<bytes::Bytes> {
    None
}

/// A file in object storage (MEDIA_STORE=s3). Looked up first in both modes, so a missing object is a 404 and
/// an unreachable store a 503 before anything is promised. With nginx in front, the answer is an X-Accel-Redirect
/// to an internal location that proxies a short-lived presigned URL (Range passed through, the client's
/// credentials stripped): the bytes never pass through a replica. Without nginx, the replica streams the range.
async fn serve_object(
    state: &AppState,
    objects: &dyn fermata_core::objects::ObjectStorage,
    id: Uuid,
    stored: Stored,
    etag: HeaderValue,
    accel: bool,
    conditions: &Conditions,
) -> AppResult<Response> {
    let Stored { relative, codec, .. } = stored;
    let info = objects.head(&relative).await.map_err(|e| object_error(id, &relative, e))?;
    let extension = FsPath::new(&relative).extension().and_then(|e| e.to_str()).unwrap_or_default();
    let content_type = content_type(codec, extension);
    if accel {
        let expires = std::time::Duration::from_secs(state.config.s3_presign_secs);
        let url = objects.presigned_get(&relative, expires).await.map_err(|e| object_error(id, &relative, e))?;
        let file = HeaderValue::from_str(url.as_str()).map_err(anyhow::Error::from)?;
        return accel_redirect("object", id, extension, file, content_type);
    }
    let answer = conditions.decide(info.size, info.modified, &etag);
    let objects = state.media.objects().cloned().ok_or_else(|| anyhow::anyhow!("object storage vanished"))?;
    let stream = match answer {
        Answer::Bytes { start, end, .. } if info.size > 0 => {
            Some(objects.get(&relative, Some(start..end + 1)).await.map_err(|e| object_error(id, &relative, e))?)
        }
        _ => None,
    };
    respond(answer, info.size, info.modified, etag, content_type, move |_, _| {
        let stream = stream.unwrap_or_else(|| futures::StreamExt::boxed(futures::stream::empty()));
        Ok(Body::from_stream(stream))
    })
}

/// A missing object is logged with its song (the database names a file the store does not hold).
fn object_error(id: Uuid, key: &str, error: fermata_core::objects::ObjectError) -> AppError {
    if matches!(error, fermata_core::objects::ObjectError::NotFound) {
        tracing::warn!(song = %id, key, "object missing from the store");
    }
    error.into()
}

/// The Content-Type of a song's file (by its codec) or of a transcode (by its extension, as nginx's).
fn content_type(codec: Option<Codec>, extension: &str) -> HeaderValue {
    HeaderValue::from_static(match codec {
        Some(codec) => codec.content_type(extension),
        None => transcode::Format::ALL
            .into_iter()
            .find(|f| f.suffix() == extension)
            .map_or("application/octet-stream", transcode::Format::content_type),
    })
}

/// The authorisation nginx asked for: where its internal location finds the bytes (`X-Fermata-File`).
fn accel_redirect(
    location: &str,
    id: Uuid,
    extension: &str,
    file: HeaderValue,
    content_type: HeaderValue,
) -> AppResult<Response> {
    let target = format!("/internal/{location}/{id}.{}", utf8_percent_encode(extension, PATH_SAFE));
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert("x-accel-redirect", HeaderValue::from_str(&target).map_err(anyhow::Error::from)?);
    headers.insert(ACCEL_FILE, file);
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    Ok(response)
}

/// The response for a decided answer: validators, 304, 416, or the bytes from `body(start, length)` (unless they
/// were already read).
fn respond(
    answer: Answer,
    len: u64,
    modified: SystemTime,
    etag: HeaderValue,
    content_type: HeaderValue,
    body: impl FnOnce(u64, u64) -> AppResult<Body>,
) -> AppResult<Response> {
    let last_modified = httpdate::fmt_http_date(modified);
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag);
    headers.insert(header::LAST_MODIFIED, HeaderValue::from_str(&last_modified).map_err(anyhow::Error::from)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));

    let (start, end, prefetched) = match answer {
        Answer::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(response);
        }
        Answer::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).map_err(anyhow::Error::from)?,
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return Ok(response);
        }
        Answer::Bytes { partial, start, end, prefetched } => {
            if partial {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            }
            (start, end, prefetched)
        }
    };
    let length = if len == 0 { 0 } else { end - start + 1 };
    if response.status() == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{end}/{len}");
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).map_err(anyhow::Error::from)?);
    }
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    *response.body_mut() = match prefetched {
        Some(bytes) => Body::from(bytes),
        None => body(start, length)?,
    };
    Ok(response)
}

/// The request's conditional and range headers, carried to the blocking pool.
struct Conditions {
    range: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
    if_range: Option<HeaderValue>,
}

/// What is sent of a stored file: nothing (304, 416), or bytes `start..=end`, already read when few.
enum Answer {
    NotModified,
    Unsatisfiable,
    Bytes { partial: bool, start: u64, end: u64, prefetched: Option<bytes::Bytes> },
}

impl Conditions {
    fn of(headers: &HeaderMap) -> Self {
        Self {
            range: headers.get(header::RANGE).cloned(),
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
            if_range: headers.get(header::IF_RANGE).cloned(),
        }
    }

    /// RFC 9110's order: If-None-Match before Range (a client holding the current file gets 304 whatever range
    /// it asked for), then If-Range decides whether the range is honoured. A range up to [`RANGE_READ`] is read
    /// here; a failed read leaves it to the streaming path, which reports the error.
    fn answer(&self, file: &std::fs::File, metadata: &std::fs::Metadata, etag: &HeaderValue) -> Answer {
        use std::os::unix::fs::FileExt;
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let answer = self.decide(metadata.len(), modified, etag);
        let Answer::Bytes { partial, start, end, prefetched: None } = answer else { return answer };
        let length = if metadata.len() == 0 { 0 } else { end - start + 1 };
        let mut prefetched = None;
        if length <= RANGE_READ {
            let mut buffer = vec![0; length as usize];
            prefetched = file.read_exact_at(&mut buffer, start).ok().map(|()| bytes::Bytes::from(buffer));
        }
        Answer::Bytes { partial, start, end, prefetched }
    }

    /// The answer for a file of `len` bytes last modified at `modified`, before any byte is read.
    fn decide(&self, len: u64, modified: SystemTime, etag: &HeaderValue) -> Answer {
        if self.if_none_match.as_ref().is_some_and(|v| etag_matches(v, etag)) {
            return Answer::NotModified;
        }
        let honour_range = self.if_range.as_ref().is_none_or(|v| if_range_holds(v, etag, modified));
        let range = self.range.as_ref().and_then(|v| v.to_str().ok()).filter(|_| honour_range);
        match byte_range(range, len) {
            ByteRange::Whole => {
                Answer::Bytes { partial: false, start: 0, end: len.saturating_sub(1), prefetched: None }
            }
            ByteRange::Part { start, end } => Answer::Bytes { partial: true, start, end, prefetched: None },
            ByteRange::Unsatisfiable => Answer::Unsatisfiable,
        }
    }
}

/// What a Range header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file, as 200.
    Whole,
    /// Bytes `start..=end`, as 206; `start <= end < len`.
    Part { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The answer to a Range header (already dropped by the caller when If-Range fails). Per RFC 9110: `a-b`, `a-`,
/// `-n`; an end past the length is clamped; a suffix longer than the file is the whole file as a range; several
/// ranges get the whole file (allowed, and every player handles it); a header that cannot be parsed, or names
/// another unit, is ignored (§14.2); a well-formed one that is invalid (`100-50`) or unsatisfiable is 416, as
/// the RFC recommends. An empty file has no satisfiable range.
pub fn byte_range(range: Option<&str>, len: u64) -> ByteRange {
    let Some(range) = range else { return ByteRange::Whole };
    if range.contains(',') {
        return ByteRange::Whole;
    }
    match parse_range_header(range).map(|p| p.validate(len)) {
        Ok(Ok(ranges)) if len > 0 => match ranges.first() {
            Some(r) => ByteRange::Part { start: *r.start(), end: *r.end() },
            None => ByteRange::Whole,
        },
        Ok(Err(RangeUnsatisfiableError::FileSuffixOutOfBounds)) if len > 0 => {
            ByteRange::Part { start: 0, end: len - 1 }
        }
        Ok(_) => ByteRange::Unsatisfiable,
        Err(_) => ByteRange::Whole,
    }
}

fn etag_matches(header: &HeaderValue, etag: &HeaderValue) -> bool {
    header.to_str().is_ok_and(|v| v.trim() == "*" || v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag))
}

/// If-Range holds for the exact strong ETag, or for a date equal to Last-Modified (second precision).
fn if_range_holds(value: &HeaderValue, etag: &HeaderValue, modified: SystemTime) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let text = text.trim();
    if text.starts_with('"') {
        return text.as_bytes() == etag.as_bytes();
    }
    if text.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(text).is_ok_and(|date| httpdate::fmt_http_date(date) == httpdate::fmt_http_date(modified))
}

/// The song's cover: its album's art.
#[utoipa::path(get, path = "/api/music/songs/{id}/cover", tag = "streaming", params(("id" = Uuid, Path), CoverQuery), responses(
    (status = 200, description = "image"), (status = 304), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "the object store (MEDIA_STORE=s3) cannot be reached"),
))]
pub async fn song_cover(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidQuery(query): ValidQuery<CoverQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let cover_path = catalog::song_cover(&state.db, id.into()).await?;
    cover(&state, cover_path, query.size, &headers).await
}

/// An album's cover (embedded art or the folder image), optionally as a thumbnail.
#[utoipa::path(get, path = "/api/music/albums/{id}/cover", tag = "streaming", params(("id" = Uuid, Path), CoverQuery), responses(
    (status = 200, description = "image"), (status = 304), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "the object store (MEDIA_STORE=s3) cannot be reached"),
))]
pub async fn album_cover(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<Uuid>,
    ValidQuery(query): ValidQuery<CoverQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let cover_path = catalog::album_cover(&state.db, id.into()).await?;
    cover(&state, cover_path, query.size, &headers).await
}

pub(crate) async fn cover(
    state: &AppState,
    cover_path: Option<String>,
    size: Option<u32>,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let cover_path = cover_path.ok_or(AppError::NotFound)?;
    // The tag identifies the source image and the size; content-addressed covers never change in place.
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cover_path.as_bytes()));
    let etag =
        HeaderValue::from_str(&format!("\"{}-{}\"", &key[..32], size.unwrap_or(0))).map_err(anyhow::Error::from)?;
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| etag_matches(v, &etag)) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let (body, length, content_type) = match size {
        None => {
            // Streamed from the file after a look at its header: never read whole, never a non-image.
            let opened = state.media.open_cover(&cover_path).await?.ok_or(AppError::NotFound)?;
            let inspected = tokio::task::spawn_blocking(move || -> Option<_> {
                let mut opened = opened;
                let inspected = covers::inspect(&opened.file).ok()?;
                std::io::Seek::rewind(&mut opened.file).ok()?;
                Some((opened, inspected))
            })
            .await
            .map_err(anyhow::Error::from)?;
            let (opened, inspected) = inspected.ok_or(AppError::NotFound)?;
            let length = opened.metadata.len();
            let file = tokio::fs::File::from_std(opened.file);
            (Body::from_stream(ReaderStream::with_capacity(file, STREAM_CHUNK)), length, inspected.mime())
        }
        Some(size) => {
            let bytes = match state.media.read_thumbnail(&key, size).await? {
                Some(bytes) => bytes,
                None => make_thumbnail(state, cover_path, &key, size).await?,
            };
            let length = bytes.len() as u64;
            (Body::from(bytes), length, "image/jpeg")
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400")),
        ],
        body,
    )
        .into_response())
}

/// Makes a thumbnail once and keeps it in the media store (never visible half-written). Decodes wait for the
/// replica's single decode slot; a cover that cannot be made into a thumbnail leaves a marker, and every later
/// request (on any replica) is a 404 at once.
async fn make_thumbnail(state: &AppState, cover_path: String, key: &str, size: u32) -> AppResult<Vec<u8>> {
    let media = &state.media;
    if media.thumbnail_failed(key).await? {
        return Err(AppError::NotFound);
    }
    let _permit = covers::DECODES.acquire().await.map_err(anyhow::Error::from)?;
    // Another request may have made it while this one waited.
    if let Some(bytes) = media.read_thumbnail(key, size).await? {
        return Ok(bytes);
    }
    let source = media.open_cover(&cover_path).await?.ok_or(AppError::NotFound)?;
    let made =
        tokio::task::spawn_blocking(move || covers::thumbnail(source.file, size)).await.map_err(anyhow::Error::from)?;
    let bytes = match made {
        Ok(bytes) => bytes,
        Err(covers::CoverError::Io(e)) => return Err(anyhow::Error::from(e).into()),
        Err(e) => {
            tracing::warn!(cover = %cover_path, "no thumbnail for this cover: {e}");
            if let Err(e) = media.remember_thumbnail_failure(key).await {
                tracing::warn!(cover = %cover_path, "cannot remember a failed cover: {e:#}");
            }
            return Err(AppError::NotFound);
        }
    };
    media.write_thumbnail(key, size, bytes.clone()).await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use axum::http::HeaderValue;

    use super::{ByteRange, byte_range, etag_matches, if_range_holds};

    #[test]
    fn if_range_and_if_none_match_follow_rfc_9110() {
        let etag = HeaderValue::from_static("\"abc\"");
        // Sun, 06 Nov 1994 08:49:37 GMT, with a fraction of a second the HTTP date cannot carry.
        let modified = SystemTime::UNIX_EPOCH + Duration::from_millis(784_111_777_250);
        let if_range = [
            ("\"abc\"", true, "the strong ETag"),
            ("\"abd\"", false, "another ETag"),
            ("W/\"abc\"", false, "a weak ETag never holds for If-Range"),
            ("Sun, 06 Nov 1994 08:49:37 GMT", true, "Last-Modified to the second"),
            ("Sun, 06 Nov 1994 08:49:38 GMT", false, "a later date"),
            ("Sun, 06 Nov 1994 08:49:36 GMT", false, "an earlier date"),
            ("yesterday", false, "not a date"),
        ];
        for (value, holds, why) in if_range {
            assert_eq!(if_range_holds(&HeaderValue::from_static(value), &etag, modified), holds, "{why}: {value}");
        }
        let if_none_match = [
            ("\"abc\"", true, "the ETag"),
            ("W/\"abc\"", true, "weak comparison for If-None-Match"),
            ("\"x\", \"abc\"", true, "one of a list"),
            ("*", true, "any"),
            ("\"x\"", false, "another"),
            ("", false, "empty"),
        ];
        for (value, matches, why) in if_none_match {
            assert_eq!(etag_matches(&HeaderValue::from_static(value), &etag), matches, "{why}: {value}");
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(byte_range(None, 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(byte_range(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=50-1000"), 100), part(50, 99), "an end past the length is clamped");
        assert_eq!(byte_range(Some("bytes=-1000"), 100), part(0, 99), "a long suffix is the whole file");
        assert_eq!(byte_range(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=100-50"), 1000), ByteRange::Unsatisfiable, "invalid: 416");
        assert_eq!(byte_range(Some("bytes=0-0"), 0), ByteRange::Unsatisfiable, "nothing to give from an empty file");
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), ByteRange::Whole, "several ranges: the whole file");
        assert_eq!(byte_range(Some("items=0-1"), 100), ByteRange::Whole, "another unit is ignored");
        assert_eq!(byte_range(Some("bytes=x-y"), 100), ByteRange::Whole, "unparseable is ignored");
        assert_eq!(byte_range(Some("bytes=0-18446744073709551615"), 10), part(0, 9));
        // http-range-header refuses numbers with leading zeros; ignoring the header is what RFC 9110 allows.
        assert_eq!(byte_range(Some("bytes=05-09"), 100), ByteRange::Whole);
    }
}
