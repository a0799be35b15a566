//! The media store on S3-compatible object storage (`MEDIA_STORE=s3`): the core's [`ObjectStorage`] over Apache
//! Arrow's object_store, which speaks the protocol (SigV4 signing, multipart uploads, ranged GETs, presigned
//! URLs) to AWS S3, MinIO, Garage, Ceph RGW, Backblaze B2 and the like. The core knows no HTTP; the server, which
//! does, holds the client.

use std::{ops::Range, time::Duration};

use bytes::Bytes;
use fermata_core::objects::{ByteStream, ObjectError, ObjectInfo, ObjectStorage};
use futures::{StreamExt, TryStreamExt};
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig,
    aws::{AmazonS3, AmazonS3Builder},
    multipart::{MultipartStore, PartId},
    path::Path,
    signer::Signer,
};

/// Where the bucket is and how to reach it (S3_* settings, documented in .env.example).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http(s)://host:port`; None for AWS itself (the region decides the host).
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Keys go under this prefix (no leading or trailing `/`), so a bucket can hold other things too.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `bucket.host` (virtual-hosted style, AWS's default) rather than `host/bucket` (path style, what MinIO,
    /// Garage and most self-hosted servers expect, and what nginx in front needs: one host for every object).
    pub virtual_hosted: bool,
}

/// reqwest runs on rustls without a built-in crypto provider (the workspace's TLS is ring, through sqlx too):
/// ring becomes the process's provider. Every reqwest client in the process needs it (feature unification gives
/// them all this TLS), so anything that builds one calls this first; calling it again does nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The bucket, with the client that reaches it.
#[derive(Debug)]
pub struct S3Store {
    store: AmazonS3,
    prefix: String,
    describe: String,
}

/// How long one request may take before it counts as failed. Short, because a replica that cannot reach the store
/// answers 503 at once rather than holding a listener; retries are few for the same reason.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole request, body included: the backend reads at most a part (8 MiB) or a cover per request, or streams a
/// song to a listener in direct mode (then the listener's pace sets the time, so the bound is generous).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl S3Store {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        install_tls_provider();
        let allow_http = settings.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_read_timeout(READ_TIMEOUT);
        let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..RetryConfig::default() };
        let mut builder = AmazonS3Builder::new()
            .with_region(&settings.region)
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(settings.virtual_hosted)
            .with_allow_http(allow_http)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        let store = builder.build()?;
        let prefix = settings.prefix.trim_matches('/').to_owned();
        let describe = format!(
            "s3://{}/{} at {}",
            settings.bucket,
            prefix,
            settings.endpoint.as_deref().unwrap_or(&settings.region)
        );
        Ok(Self { store, prefix, describe })
    }

    fn path(&self, key: &str) -> Result<Path, ObjectError> {
        let full = if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) };
        Path::parse(&full).map_err(|e| ObjectError::Unavailable(e.into()))
    }
}

fn error(e: object_store::Error) -> ObjectError {
    match e {
        object_store::Error::NotFound { .. } => ObjectError::NotFound,
        other => ObjectError::Unavailable(other.into()),
    }
}

fn with_type(content_type: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, content_type.to_owned().into());
    attributes
}

#[async_trait::async_trait]
impl ObjectStorage for S3Store {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn put(&self, key: &str, data: Bytes, content_type: &str) -> Result<(), ObjectError> {
        let options = PutOptions { attributes: with_type(content_type), ..PutOptions::default() };
        self.store.put_opts(&self.path(key)?, PutPayload::from(data), options).await.map_err(error)?;
        Ok(())
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, ObjectError> {
        let options = PutMultipartOptions { attributes: with_type(content_type), ..PutMultipartOptions::default() };
        self.store.create_multipart_opts(&self.path(key)?, options).await.map_err(error)
    }

    async fn put_part(&self, key: &str, upload: &str, index: usize, data: Bytes) -> Result<String, ObjectError> {
        let id = upload.to_owned();
        let part = self.store.put_part(&self.path(key)?, &id, index, PutPayload::from(data)).await.map_err(error)?;
        Ok(part.content_id)
    }

    async fn complete_multipart(&self, key: &str, upload: &str, parts: Vec<String>) -> Result<(), ObjectError> {
        let parts = parts.into_iter().map(|content_id| PartId { content_id }).collect();
        self.store.complete_multipart(&self.path(key)?, &upload.to_owned(), parts).await.map_err(error)?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload: &str) -> Result<(), ObjectError> {
        match self.store.abort_multipart(&self.path(key)?, &upload.to_owned()).await {
            // Already gone (completed, or aborted by another replica): nothing left to throw away.
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(error(e)),
        }
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, ObjectError> {
        let meta = self.store.head(&self.path(key)?).await.map_err(error)?;
        Ok(ObjectInfo { size: meta.size, modified: meta.last_modified.into() })
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, ObjectError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self.store.get_opts(&self.path(key)?, options).await.map_err(error)?;
        Ok(result.into_stream().map_err(error).boxed())
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(error(e)),
        }
    }

    async fn presigned_get(&self, key: &str, expires: Duration) -> Result<url::Url, ObjectError> {
        self.store.signed_url(axum::http::Method::GET, &self.path(key)?, expires).await.map_err(error)
    }
}
