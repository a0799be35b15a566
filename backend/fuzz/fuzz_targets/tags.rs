//! Uploaded files are untrusted: reading tags and properties of any bytes (as an upload named .mp3, .flac, …)
//! answers Ok or an error, never a panic, and the text it keeps is clean.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (kind, data) = input;
    let extension = ["mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff"][usize::from(kind) % 7];
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join(format!("fuzz.{extension}"));
    std::fs::write(&path, data).expect("written");
    if let Ok(meta) = fermata::library::tags::read(&path, Some("Artist - Title.mp3")) {
        for text in [&meta.title, &meta.artist, &meta.album] {
            assert!(!text.contains('\0'));
        }
    }
});
