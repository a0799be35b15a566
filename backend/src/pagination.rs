//! Listing pages as the REST API shapes them; the cursors themselves are the core's.

use serde::Serialize;

pub use fermata_core::cursor::Cursor;

/// A page of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<fermata_core::cursor::Page<T>> for Page<T> {
    fn from(page: fermata_core::cursor::Page<T>) -> Self {
        Self { items: page.items, next_cursor: page.next_cursor }
    }
}
