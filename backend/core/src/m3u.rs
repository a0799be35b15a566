//! Extended M3U: writing a playlist, and reading one from Fermata or another player.

use uuid::Uuid;

/// One song line of an M3U file, with the `#EXTINF` hint that preceded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub location: String,
    /// "Artist - Title" from `#EXTINF:<seconds>,<text>`.
    pub display: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub name: Option<String>,
    pub items: Vec<Item>,
    /// A line was over [`MAX_LINE`] bytes (skipped); an import refuses such a file rather than guess.
    pub too_long: bool,
}

pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut display = None;
    for line in text.trim_start_matches('\u{feff}').lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.len() > MAX_LINE {
            parsed.too_long = true;
            continue;
        }
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            display = info.split_once(',').map(|(_, d)| d.trim().to_owned()).filter(|d| !d.is_empty());
        } else if let Some(name) = line.strip_prefix("#PLAYLIST:") {
            // The name follows the rules of a playlist name given through the API; one that breaks them is
            // dropped (the import is then named by the request or "Imported playlist").
            let name: String = name.trim().chars().take(100).collect();
            parsed.name = crate::text::text_line(&name).is_ok().then_some(name);
        } else if !line.starts_with('#') {
            parsed.items.push(Item { location: line.to_owned(), display: display.take() });
        }
    }
    parsed
}

/// A Fermata stream URL names the song id.
pub fn song_id_in(location: &str) -> Option<Uuid> {
    let rest = location.split("/api/music/songs/").nth(1)?;
    rest.split('/').next()?.parse().ok()
}

/// The longest line an import takes: PATH_MAX on Linux. A longer line names no file any system could open.
pub const MAX_LINE: usize = 4096;

/// How many trailing components a library path may have (a deeper library is not a real one's).
const MAX_DEPTH: usize = 16;

/// The library paths a line may name: the tails of the line (slashes normalised) that start after a `/`, with
/// at most 16 components, longest first, so `/home/me/Music/Artist/song.mp3` finds the stored
/// `Artist/song.mp3` however deep the listener's own prefix is. Built from the end of the line, so the work and
/// memory are at most 16 times the line's length (every tail of a long line once cost its square).
pub fn path_suffixes(location: &str) -> Vec<String> {
    let location = location.replace('\\', "/");
    let trimmed = location.trim_start_matches('/');
    // Tail starts from the end of the line backwards: after each `/`, then the line's own start.
    let starts: Vec<usize> =
        trimmed.rmatch_indices('/').map(|(i, _)| i + 1).chain(std::iter::once(0)).take(MAX_DEPTH).collect();
    starts.into_iter().rev().map(|i| &trimmed[i..]).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// "Artist - Title" from an EXTINF hint, or from a file name like "Artist - Title.mp3".
pub fn artist_and_title(item: &Item) -> Option<(String, String)> {
    let from_name = || {
        let name = item.location.rsplit(['/', '\\']).next()?;
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        Some(percent_encoding::percent_decode_str(stem).decode_utf8_lossy().into_owned())
    };
    let text = item.display.clone().or_else(from_name)?;
    let (artist, title) = text.split_once(" - ")?;
    Some((artist.trim().to_owned(), title.trim().to_owned()))
}

/// An `#EXTINF` line's text, kept on one line: every control character (CR, LF, VT, FF, NEL) and the Unicode
/// line and paragraph separators, which some parsers take as line breaks, become spaces.
pub fn escape(text: &str) -> String {
    text.chars().map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tails_are_bounded_whatever_the_line() {
        assert_eq!(
            path_suffixes("/home/me/Music/A/b.mp3"),
            ["home/me/Music/A/b.mp3", "me/Music/A/b.mp3", "Music/A/b.mp3", "A/b.mp3", "b.mp3"]
        );
        assert_eq!(path_suffixes("C:\\Music\\x.flac"), ["C:/Music/x.flac", "Music/x.flac", "x.flac"]);
        assert_eq!(path_suffixes("dir/"), ["dir/"]);
        // 40 components: the 16 shortest tails, the longest of them first.
        let deep = (0..40).map(|n| format!("d{n}")).collect::<Vec<_>>().join("/");
        let tails = path_suffixes(&deep);
        assert_eq!(tails.len(), 16);
        assert!(tails[0].starts_with("d24/") && tails[15] == "d39", "{tails:?}");
        // A line of a million slashes once built half a million tails of its length (quadratic); now the
        // tails together hold at most 16 times the line.
        let slashes = "/a".repeat(500_000);
        let total: usize = path_suffixes(&slashes).iter().map(String::len).sum();
        assert!(total <= 16 * 32, "{total}");
        let long = format!("{}/x.mp3", "n".repeat(1 << 20));
        let total: usize = path_suffixes(&long).iter().map(String::len).sum();
        assert!(total <= 2 * long.len(), "{total}");
    }

    #[test]
    fn a_line_longer_than_any_path_is_noted_not_kept() {
        let text = format!("/a.mp3\n/{}\n", "x".repeat(MAX_LINE));
        let parsed = parse(&text);
        assert!(parsed.too_long);
        assert_eq!(parsed.items.len(), 1);
        assert!(!parse("/a.mp3\n").too_long);
    }

    #[test]
    fn exported_text_stays_on_its_line_and_imported_names_follow_the_rules() {
        assert_eq!(escape("a\u{b}b\u{85}c\u{2028}d\u{2029}e\r\nf"), "a b c d e  f");
        assert_eq!(parse("#PLAYLIST:   \n/a.mp3\n").name, None);
        assert_eq!(parse("#PLAYLIST:bad\u{b}name\n/a.mp3\n").name, None);
        assert_eq!(parse("#PLAYLIST: Good \n/a.mp3\n").name.as_deref(), Some("Good"));
    }

    #[test]
    fn parses_extended_m3u_from_other_players() {
        let text = "\u{feff}#EXTM3U\n#PLAYLIST:Road Trip\n#EXTINF:215,Nina Simone - Feeling Good\n/music/Nina Simone/Feeling Good.mp3\n\n# a comment\nC:\\Music\\Miles Davis - So What.flac\n";
        let parsed = parse(text);
        assert_eq!(parsed.name.as_deref(), Some("Road Trip"));
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(artist_and_title(&parsed.items[0]), Some(("Nina Simone".into(), "Feeling Good".into())));
        assert_eq!(artist_and_title(&parsed.items[1]), Some(("Miles Davis".into(), "So What".into())));
        let id = "01a201fe-9ec8-77ed-a156-4b4f4022b07d";
        assert_eq!(
            song_id_in(&format!("http://x/api/music/songs/{id}/stream")).map(|u| u.to_string()),
            Some(id.to_owned())
        );
    }
}
