//! Opaque keyset cursors: the last row's sort key and id, base64url-encoded JSON. Paging by key instead of
//! offset means rows added while a client pages never make it see a row twice or miss one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor<K> {
    /// What the listing was sorted by, so a cursor is not replayed against another order.
    pub sort: String,
    pub key: K,
    pub id: uuid::Uuid,
}

/// A cursor this listing did not write: not base64url JSON of a cursor, a NUL in its key, or another order's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not a cursor from this listing")]
pub struct NotACursor;

impl<K: Serialize + DeserializeOwned> Cursor<K> {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialise"))
    }

    pub fn decode(text: &str, sort: &str) -> Result<Self, NotACursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| NotACursor)?;
        // PostgreSQL text cannot hold NUL; a key with one is not a key this server wrote.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(NotACursor);
        }
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| NotACursor)?;
        if cursor.sort != sort {
            return Err(NotACursor);
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::{Cursor, NotACursor};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    #[test]
    fn cursors_round_trip_and_refuse_what_this_listing_did_not_write() {
        let id = uuid::Uuid::nil();
        let text = Cursor { sort: "albums".to_owned(), key: "Ágætis byrjun".to_owned(), id }.encode();
        assert!(!text.contains(['+', '/', '=']), "URL-safe without padding: {text}");
        let back = Cursor::<String>::decode(&text, "albums").unwrap();
        assert_eq!((back.key.as_str(), back.id), ("Ágætis byrjun", id));
        let number = Cursor { sort: "entries".to_owned(), key: 41_i64, id }.encode();
        assert_eq!(Cursor::<i64>::decode(&number, "entries").unwrap().key, 41);

        let encode = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let nul = encode(r#"{"sort":"albums","key":"a\u0000b","id":"00000000-0000-0000-0000-000000000000"}"#);
        let cases: [(&str, String); 6] = [
            ("another order's cursor", text.clone()),
            ("not base64url", "%%%".to_owned()),
            ("base64 of junk", encode("not json")),
            ("a NUL in the key", nul),
            ("the wrong key type", number),
            ("empty", String::new()),
        ];
        for (why, cursor) in cases {
            let sort = if why == "another order's cursor" { "artists" } else { "albums" };
            assert_eq!(Cursor::<String>::decode(&cursor, sort), Err(NotACursor), "{why}");
        }
    }
}
