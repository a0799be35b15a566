//! The multipart framing of uploads: which parts are read and how much of the body may pass without file data.
//! Kept apart from the handler so the fuzz target (backend/fuzz) drives exactly what the upload endpoint runs.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::Stream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of an upload as multipart `file` parts: every byte of the body counts against `limit` (other parts
/// and part headers too), only `file` parts are accepted, and the bytes between two reads of file data (a part's
/// headers) are bounded, since multer buffers headers until their end. The counter returned is the one the
/// reader of file data resets ([`HeaderBound`]).
pub fn files<S, E>(body: S, boundary: impl Into<String>, limit: u64) -> (multer::Multipart<'static>, Arc<AtomicU64>)
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError> + 'static,
{
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["file"])
        .size_limit(multer::SizeLimit::new().whole_stream(limit));
    let (body, since_data) = HeaderBound::wrap(body);
    (multer::Multipart::with_constraints(body, boundary, constraints), since_data)
}

/// A file name good for showing: its last component, without control characters, at most 255 characters.
pub fn display_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// The most body bytes read without file data in between: a part's headers and the boundary around them.
/// Real part headers are a few hundred bytes.
pub const MAX_PART_HEADER_BYTES: u64 = 64 * 1024;

/// Counts the body bytes read since file data was last taken (the upload handler resets it whenever it takes file data) and ends the body with
/// an error past [`MAX_PART_HEADER_BYTES`] plus one network read: multer keeps a part's headers in memory
/// until they end, so without this one part header could take the whole upload limit in memory.
pub struct HeaderBound<S> {
    inner: S,
    since_data: Arc<AtomicU64>,
}

impl<S> HeaderBound<S> {
    fn wrap(inner: S) -> (Self, Arc<AtomicU64>) {
        let since_data = Arc::new(AtomicU64::new(0));
        (Self { inner, since_data: since_data.clone() }, since_data)
    }
}

impl<S, E> Stream for HeaderBound<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // A chunk may carry file data and the next part's headers; the bound applies to what came since.
        if self.since_data.load(Ordering::Relaxed) > MAX_PART_HEADER_BYTES + MAX_READ_CHUNK {
            return Poll::Ready(Some(Err("a multipart part's headers are too long".into())));
        }
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            self.since_data.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        next.map(|item| item.map(|result| result.map_err(Into::into)))
    }
}

/// Larger than any read hyper hands over in one piece.
const MAX_READ_CHUNK: u64 = 1024 * 1024;
