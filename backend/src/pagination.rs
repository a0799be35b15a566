//! Opaque keyset cursors: the last row's sort key and id, base64url-encoded JSON. Paging by key instead of
//! offset means rows added while a client pages never make it see a row twice or miss one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::AppError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor<K> {
    /// What the listing was sorted by, so a cursor is not replayed against another order.
    pub sort: String,
    pub key: K,
    pub id: uuid::Uuid,
}

impl<K: Serialize + DeserializeOwned> Cursor<K> {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialise"))
    }

    pub fn decode(text: &str, sort: &str) -> Result<Self, AppError> {
        let bad = || AppError::field("cursor", "is not a cursor from this listing");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        // PostgreSQL text cannot hold NUL; a key with one is not a key this server wrote.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(bad());
        }
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
