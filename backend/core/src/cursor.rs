//! Keyset pagination, the one way every listing pages: opaque cursors (the last row's sort key and id,
//! base64url-encoded JSON) and [`Keyset`], which applies one to a query and cuts the page. Paging by key instead
//! of offset means rows added while a client pages never make it see a row twice or miss one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{
    ConnectionTrait, DbErr, FromQueryResult, QueryResult,
    sea_query::{Alias, Expr, Order, SelectStatement, SimpleExpr},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cursor<K> {
    /// What the listing was sorted by, so a cursor is not replayed against another order.
    pub sort: String,
    pub key: K,
    pub id: Uuid,
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

/// The SQL type of a listing's sort key. A cursor carries its key as text; the type says which texts are keys
/// (so a forged cursor is a 422, not a failed cast) and what the text is cast back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Text,
    Timestamp,
    BigInt,
    Integer,
}

impl KeyType {
    fn accepts(self, key: &str) -> bool {
        match self {
            // Text from PostgreSQL never holds NUL; `Cursor::decode` refuses it already.
            Self::Text => true,
            Self::Timestamp => chrono::DateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok(),
            Self::BigInt => key.parse::<i64>().is_ok(),
            Self::Integer => key.parse::<i32>().is_ok(),
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Timestamp => "timestamptz",
            Self::BigInt => "bigint",
            Self::Integer => "integer",
        }
    }
}

/// A page of a listing: its items, and the cursor for the next page (none on the last).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// One request for a page of a keyset listing: the listing's name (its sort, so a cursor is never replayed
/// against another order), the cursor the caller sent, and the page size.
#[derive(Debug)]
pub struct Keyset {
    listing: String,
    after: Option<Cursor<String>>,
    limit: u64,
}

/// The column aliases [`Keyset::apply`] selects the key and id under, read back by [`Keyset::fetch`].
const KEY: &str = "keyset_key";
const ID: &str = "keyset_id";

impl Keyset {
    /// Refuses a cursor this listing did not write, or whose key is not of `key_type`.
    pub fn new(
        listing: impl Into<String>,
        cursor: Option<&str>,
        limit: u64,
        key_type: KeyType,
    ) -> Result<Self, NotACursor> {
        let listing = listing.into();
        let after = cursor.map(|c| Cursor::<String>::decode(c, &listing)).transpose()?;
        if after.as_ref().is_some_and(|c| !key_type.accepts(&c.key)) {
            return Err(NotACursor);
        }
        Ok(Self { listing, after, limit })
    }

    /// Orders `query` by (`key`, `id`) in `order`, starts it after the cursor, and limits it to one row more
    /// than a page (which tells whether there is a next page). Selects the key as text and the id, for the
    /// next cursor.
    pub fn apply(&self, query: &mut SelectStatement, key: SimpleExpr, key_type: KeyType, id: SimpleExpr, order: Order) {
        query.expr_as(key.clone().cast_as(Alias::new("text")), Alias::new(KEY)).expr_as(id.clone(), Alias::new(ID));
        if let Some(after) = &self.after {
            let left = Expr::tuple([key.clone(), id.clone()]);
            let right = Expr::tuple([
                Expr::val(after.key.clone()).cast_as(Alias::new(key_type.sql())),
                Expr::val(after.id).into(),
            ]);
            query.and_where(match order {
                Order::Desc => left.lt(right),
                _ => left.gt(right),
            });
        }
        query.order_by_expr(key, order.clone()).order_by_expr(id, order).limit(self.limit + 1);
    }

    /// Runs a query prepared by [`Self::apply`] and cuts the page, reading each row with `read`.
    pub async fn fetch<T>(
        &self,
        db: &impl ConnectionTrait,
        query: &SelectStatement,
        read: impl Fn(&QueryResult) -> Result<T, DbErr>,
    ) -> Result<Page<T>, DbErr> {
        let mut rows = db.query_all(crate::run::statement(query)).await?;
        // The extra row only says that there is a next page; the cursor is the key of the page's last row.
        let more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = match rows.last() {
            Some(last) if more => {
                let (key, id) = (last.try_get::<String>("", KEY)?, last.try_get::<Uuid>("", ID)?);
                Some(Cursor { sort: self.listing.clone(), key, id }.encode())
            }
            _ => None,
        };
        let items = rows.iter().map(read).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// [`Self::fetch`] for rows that are one `FromQueryResult` type.
    pub async fn fetch_as<T: FromQueryResult>(
        &self,
        db: &impl ConnectionTrait,
        query: &SelectStatement,
    ) -> Result<Page<T>, DbErr> {
        self.fetch(db, query, |row| T::from_query_result(row, "")).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Cursor, KeyType, Keyset, NotACursor};
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

    #[test]
    fn a_keyset_refuses_keys_of_another_type() {
        let id = uuid::Uuid::nil();
        let cursor = |key: &str| Cursor { sort: "songs".to_owned(), key: key.to_owned(), id }.encode();
        let cases = [
            (KeyType::Integer, "42", true),
            (KeyType::Integer, "4294967296", false),
            (KeyType::BigInt, "4294967296", true),
            (KeyType::BigInt, "1e3", false),
            (KeyType::Timestamp, "2026-12-01 10:00:00.123+00", true),
            (KeyType::Timestamp, "yesterday", false),
            (KeyType::Text, "anything at all", true),
        ];
        for (key_type, key, ok) in cases {
            let result = Keyset::new("songs", Some(&cursor(key)), 10, key_type);
            assert_eq!(result.is_ok(), ok, "{key_type:?} {key}");
        }
        assert!(Keyset::new("songs", None, 10, KeyType::Integer).is_ok());
    }
}
