//! M3U/M3U8 bodies come from listeners: parsing never panics, names follow the playlist-name rules, and what is
//! written back out stays on one line.
#![no_main]
use fermata::playlists::m3u;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let parsed = m3u::parse(text);
    if let Some(name) = &parsed.name {
        assert!(fermata::extract::text_line(name).is_ok());
        assert!(name.chars().count() <= 100);
    }
    for item in &parsed.items {
        let suffixes = m3u::path_suffixes(&item.location);
        assert!(!suffixes.is_empty() && suffixes.len() <= 32);
        let _ = m3u::song_id_in(&item.location);
        if let Some((artist, title)) = m3u::artist_and_title(item) {
            assert!(!m3u::escape(&artist).contains(['\n', '\r']));
            assert!(!m3u::escape(&title).contains(['\n', '\r', '\u{2028}']));
        }
    }
});
