//! The protocol's shapes (Child, AlbumID3, ArtistID3, Playlist…) built from the core's types.
//!
//! Ids: a song's is its id; albums and artists are prefixed (`al-…`, `ar-…`), so the folder-browsing methods and
//! `getCoverArt` know what an id names without a lookup. All are the database's ids, stable across rescans.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use fermata_core::{
    catalog::{
        Song,
        browse::{Album, Artist},
    },
    ids::{AlbumId, ArtistId, SongId},
    playlists::Playlist,
};
use uuid::Uuid;

use super::response::Element;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Song(SongId),
    Album(AlbumId),
    Artist(ArtistId),
}

impl Id {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("al-") {
            return rest.parse().ok().map(|id| Self::Album(AlbumId(id)));
        }
        if let Some(rest) = text.strip_prefix("ar-") {
            return rest.parse().ok().map(|id| Self::Artist(ArtistId(id)));
        }
        text.parse::<Uuid>().ok().map(|id| Self::Song(SongId(id)))
    }
}

pub fn album_id(id: AlbumId) -> String {
    format!("al-{id}")
}

pub fn artist_id(id: ArtistId) -> String {
    format!("ar-{id}")
}

/// The protocol's dates: ISO 8601 in UTC with milliseconds.
pub fn time(at: DateTime<FixedOffset>) -> String {
    at.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// ReplayGain 2.0's reference loudness: a track's gain brings it to this.
const REPLAYGAIN_REFERENCE_LUFS: f32 = -18.0;

/// A name fit for one component of the virtual path clients use to name offline copies.
fn path_part(name: &str) -> String {
    name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect()
}

/// A song as a `Child`.
pub fn song(song: &Song) -> Element {
    let suffix = song.codec.suffix();
    let track = song.track_number.map(|n| format!("{n:02} - ")).unwrap_or_default();
    let path = format!(
        "{}/{}/{track}{}.{suffix}",
        path_part(&song.artist_name),
        path_part(&song.album_title),
        path_part(&song.title)
    );
    let replay_gain = song.loudness_lufs.map(|lufs| {
        Element::new()
            .attr("trackGain", f64::from(((REPLAYGAIN_REFERENCE_LUFS - lufs) * 100.0).round() / 100.0))
            .opt("trackPeak", song.true_peak_db.map(|db| f64::from(10f32.powf(db / 20.0))))
    });
    let mut element = Element::new()
        .attr("id", song.id.to_string())
        .attr("parent", album_id(song.album_id))
        .attr("isDir", false)
        .attr("title", song.title.as_str())
        .attr("album", song.album_title.as_str())
        .attr("artist", song.artist_name.as_str())
        .opt("track", song.track_number)
        .opt("year", song.year)
        .opt("genre", song.genre.as_deref())
        // The album's cover, unless the song's own picture differs from it (getCoverArt takes a song id too).
        .opt(
            "coverArt",
            song.has_cover.then(|| if song.own_cover { song.id.to_string() } else { album_id(song.album_id) }),
        )
        .attr("size", song.size_bytes)
        .attr("contentType", song.codec.content_type(suffix))
        .attr("suffix", suffix)
        .attr("duration", song.duration_ms / 1000)
        .opt("bitRate", song.bitrate)
        .opt("samplingRate", song.sample_rate)
        .opt("channelCount", song.channels)
        .attr("path", path)
        .attr("isVideo", false)
        .opt("userRating", song.rating)
        .attr("playCount", song.play_count)
        .opt("discNumber", song.disc_number)
        .opt("bpm", song.bpm.map(|bpm| bpm.round() as i32))
        .attr("created", time(song.added_at))
        .opt("starred", song.favourited_at.map(time))
        .attr("albumId", album_id(song.album_id))
        .attr("artistId", artist_id(song.artist_id))
        .attr("type", "music")
        .attr("mediaType", "song")
        .attr("displayArtist", song.artist_name.as_str())
        .list("genres", song.genre.iter().map(|g| Element::new().attr("name", g.as_str())))
        .list(
            "artists",
            [Element::new().attr("id", artist_id(song.artist_id)).attr("name", song.artist_name.as_str())],
        );
    if let Some(gain) = replay_gain {
        element = element.child("replayGain", gain);
    }
    element
}

/// An album as an `AlbumID3`, without its songs.
pub fn album(album: &Album, starred: Option<DateTime<FixedOffset>>) -> Element {
    Element::new()
        .attr("id", album_id(album.id))
        .attr("name", album.title.as_str())
        .attr("artist", album.artist_name.as_str())
        .attr("artistId", artist_id(album.artist_id))
        .opt("coverArt", album.has_cover.then(|| album_id(album.id)))
        .attr("songCount", album.song_count)
        .attr("duration", album.duration_ms / 1000)
        .attr("playCount", album.play_count)
        .attr("created", time(album.created_at))
        .opt("starred", starred.map(time))
        .opt("year", album.year)
        .attr("displayArtist", album.artist_name.as_str())
        .attr("isCompilation", album.compilation)
        .list(
            "artists",
            [Element::new().attr("id", artist_id(album.artist_id)).attr("name", album.artist_name.as_str())],
        )
}

/// An album as a folder `Child` (the folder-based methods: getAlbumList, getStarred, search2, getMusicDirectory).
pub fn album_folder(album: &Album, starred: Option<DateTime<FixedOffset>>) -> Element {
    Element::new()
        .attr("id", album_id(album.id))
        .attr("parent", artist_id(album.artist_id))
        .attr("isDir", true)
        .attr("title", album.title.as_str())
        .attr("album", album.title.as_str())
        .attr("artist", album.artist_name.as_str())
        .opt("year", album.year)
        .opt("coverArt", album.has_cover.then(|| album_id(album.id)))
        .attr("duration", album.duration_ms / 1000)
        .attr("playCount", album.play_count)
        .attr("created", time(album.created_at))
        .opt("starred", starred.map(time))
        .attr("albumId", album_id(album.id))
        .attr("artistId", artist_id(album.artist_id))
        .attr("mediaType", "album")
}

/// An artist as an `ArtistID3`.
pub fn artist(artist: &Artist, starred: Option<DateTime<FixedOffset>>) -> Element {
    Element::new()
        .attr("id", artist_id(artist.id))
        .attr("name", artist.name.as_str())
        .attr("albumCount", artist.album_count)
        .opt("starred", starred.map(time))
}

/// An artist as a folder-era `Artist`.
pub fn artist_folder(artist: &Artist, starred: Option<DateTime<FixedOffset>>) -> Element {
    Element::new().attr("id", artist_id(artist.id)).attr("name", artist.name.as_str()).opt("starred", starred.map(time))
}

/// A playlist, without its entries.
pub fn playlist(playlist: &Playlist) -> Element {
    Element::new()
        .attr("id", playlist.id.to_string())
        .attr("name", playlist.name.as_str())
        .opt("comment", playlist.description.as_deref())
        .attr("owner", playlist.owner_name.as_str())
        .attr("public", playlist.public)
        .attr("songCount", playlist.song_count)
        .attr("duration", playlist.duration_ms / 1000)
        .attr("created", time(playlist.created_at))
        .attr("changed", time(playlist.updated_at))
        .opt("coverArt", playlist.cover_album.map(album_id))
}

/// Index letters: the first letter of a name without a leading article, `#` for anything but a letter.
pub const IGNORED_ARTICLES: &str = "The El La Los Las Le Les Die Das Der";

pub fn index_letter(name: &str) -> String {
    let trimmed = name.trim();
    let without_article = IGNORED_ARTICLES
        .split(' ')
        .find_map(|article| {
            let rest = trimmed.get(article.len()..)?;
            (trimmed[..article.len()].eq_ignore_ascii_case(article) && rest.starts_with(' ')).then(|| rest.trim_start())
        })
        .unwrap_or(trimmed);
    match without_article.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_say_what_they_name() {
        let id = Uuid::now_v7();
        assert_eq!(Id::parse(&format!("al-{id}")), Some(Id::Album(AlbumId(id))));
        assert_eq!(Id::parse(&format!("ar-{id}")), Some(Id::Artist(ArtistId(id))));
        assert_eq!(Id::parse(&id.to_string()), Some(Id::Song(SongId(id))));
        assert_eq!(Id::parse("al-nope"), None);
        assert_eq!(Id::parse("1"), None);
    }

    #[test]
    fn index_letters_skip_articles() {
        assert_eq!(index_letter("The Beatles"), "B");
        assert_eq!(index_letter("Theodorakis"), "T");
        assert_eq!(index_letter("los lobos"), "L");
        assert_eq!(index_letter("Édith Piaf"), "É");
        assert_eq!(index_letter("2Pac"), "#");
        assert_eq!(index_letter(""), "#");
    }
}
