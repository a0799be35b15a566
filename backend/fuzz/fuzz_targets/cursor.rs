//! Keyset cursors come from clients: decoding any text must answer Ok or a 422, never panic, and a cursor that
//! decodes must carry no NUL (PostgreSQL text cannot hold one).
#![no_main]
use fermata::pagination::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(cursor) = Cursor::<String>::decode(data, "albums") {
        assert!(!cursor.key.contains('\0'));
        assert_eq!(cursor.sort, "albums");
        assert_eq!(Cursor::<String>::decode(&cursor.encode(), "albums").ok(), Some(cursor));
    }
    let _ = Cursor::<i64>::decode(data, "plays-desc");
});
