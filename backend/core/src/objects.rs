//! Object storage as the core sees it: keys and bytes. With `MEDIA_STORE=s3` the media store keeps uploads,
//! covers and thumbnails in an S3-compatible bucket instead of on the media volume, so replicas on different
//! hosts share nothing but PostgreSQL and the bucket. The protocol lives in the server (`backend/src/s3.rs`,
//! over Apache Arrow's object_store); the core decides what goes where and how an upload is made safe
//! ([`crate::media::MediaStore::store_upload`]: multipart parts recorded in `object_uploads`, so a crash leaves
//! nothing that is not aborted later).

use std::{fmt::Debug, ops::Range, time::Duration, time::SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("no such object")]
    NotFound,
    /// The store could not be reached or refused the request: the caller answers "unavailable", never loses data.
    #[error("object storage unavailable: {0:#}")]
    Unavailable(anyhow::Error),
}

/// What the store knows of an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub modified: SystemTime,
}

/// An object's bytes as they arrive.
pub type ByteStream = BoxStream<'static, Result<Bytes, ObjectError>>;

/// An S3-compatible bucket (under a prefix). Keys are the media store's relative paths (`ab/cd/<hash>.flac`,
/// `covers/…`): plain ASCII, no `..`.
#[async_trait::async_trait]
pub trait ObjectStorage: Send + Sync + Debug {
    /// Where the objects are, for logs and the CLI (`s3://bucket/prefix at http://host:port`).
    fn describe(&self) -> String;
    /// Stores a small object in one request (covers, thumbnails, small uploads).
    async fn put(&self, key: &str, data: Bytes, content_type: &str) -> Result<(), ObjectError>;
    /// Starts a multipart upload; returns its id.
    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, ObjectError>;
    /// Sends part `index` (from 0); returns the part's receipt for [`Self::complete_multipart`].
    async fn put_part(&self, key: &str, upload: &str, index: usize, data: Bytes) -> Result<String, ObjectError>;
    /// Makes the object visible, whole, from its parts in order.
    async fn complete_multipart(&self, key: &str, upload: &str, parts: Vec<String>) -> Result<(), ObjectError>;
    /// Throws a multipart upload's parts away (an upload that already completed or was aborted is no error).
    async fn abort_multipart(&self, key: &str, upload: &str) -> Result<(), ObjectError>;
    async fn head(&self, key: &str) -> Result<ObjectInfo, ObjectError>;
    /// The object's bytes, or `range` of them (which must lie within the object).
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, ObjectError>;
    /// Removes an object; a missing one is no error.
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
    /// A URL that lets its holder GET the object, and only that, until it expires.
    async fn presigned_get(&self, key: &str, expires: Duration) -> Result<url::Url, ObjectError>;
}

/// Reads a whole object into memory, refusing one larger than `limit` bytes (covers and thumbnails, which have
/// bounds of their own).
pub async fn read_bounded(store: &dyn ObjectStorage, key: &str, limit: u64) -> Result<Vec<u8>, ObjectError> {
    use futures::TryStreamExt;
    let mut stream = store.get(key, None).await?;
    let mut data = Vec::new();
    while let Some(chunk) = stream.try_next().await? {
        if (data.len() + chunk.len()) as u64 > limit {
            return Err(ObjectError::Unavailable(anyhow::anyhow!("{key} is larger than {limit} bytes")));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}
