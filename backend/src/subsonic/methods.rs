//! The methods: each parses its parameters, calls the core and shapes the answer.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderValue, StatusCode, header};
use chrono::{TimeZone, Utc};
use fermata_core::{
    catalog::{
        self,
        browse::{self, AlbumList},
        plays, queue, search,
        similar::{self, Seed},
        songs, stars,
    },
    error::Error,
    ids::{AlbumId, ArtistId, PlaylistId, SongId},
    jobs::{self, JobState},
    playlists::{self, Removal},
    transcode,
};
use sea_orm::sea_query::Order;
use uuid::Uuid;

use super::{
    Call, Failure, MAX_VALUES, Reply, code,
    response::{Element, Envelope},
    views::{self, Id},
};

type Answer = Result<Reply, Failure>;

/// Albums, songs or artists one list or search page may ask for (the protocol's own maximum for albums).
const MAX_PAGE: u64 = 500;
/// Ids one star or unstar call may carry (each is a statement).
const MAX_MARKS: usize = 500;
/// Artists in one index (getArtists, getIndexes): the whole index of a large library, bounded.
const MAX_INDEX: u64 = 50_000;
/// Playlists one getPlaylists lists (own and others' public ones, newest first).
const MAX_PLAYLISTS: u64 = 2_000;

/// The OpenSubsonic extensions Fermata supports.
pub fn extensions() -> Envelope {
    let extension = |name: &str| Element::new().attr("name", name).values("versions", [1]);
    Envelope::with_list(
        "openSubsonicExtensions",
        [
            extension("apiKeyAuthentication"),
            extension("formPost"),
            extension("songLyrics"),
            extension("sonicSimilarity"),
            extension("transcodeOffset"),
        ],
    )
}

/// The one music folder's id (`getMusicFolders`).
pub const MUSIC_FOLDER_ID: &str = "1";

/// Runs method `name` for an authenticated call.
pub async fn run(name: &str, call: &Call) -> Answer {
    match name {
        "ping" => Ok(Envelope::ok().into()),
        "getLicense" => Ok(Envelope::with("license", Element::new().attr("valid", true)).into()),
        "getMusicFolders" => Ok(Envelope::with(
            "musicFolders",
            Element::new().list("musicFolder", [Element::new().attr("id", 1).attr("name", "Music")]),
        )
        .into()),
        "getUser" => get_user(call).await,
        // The apiKeyAuthentication extension's: whose key this is (a key that does not open is error 44 before here).
        "tokenInfo" => {
            Ok(Envelope::with("tokenInfo", Element::new().attr("username", call.user.username.as_str())).into())
        }
        "getScanStatus" => scan_status(call).await,
        "startScan" => start_scan(call).await,
        "getNowPlaying" => now_playing(call).await,
        "getArtists" => artists(call, true).await,
        "getIndexes" => artists(call, false).await,
        "getArtist" => artist(call).await,
        "getAlbum" => album(call).await,
        "getSong" => song(call).await,
        "getMusicDirectory" => music_directory(call).await,
        "getGenres" => genres(call).await,
        "getTopSongs" => top_songs(call).await,
        "getAlbumList" => album_list(call, false).await,
        "getAlbumList2" => album_list(call, true).await,
        "getRandomSongs" => random_songs(call).await,
        "getSongsByGenre" => songs_by_genre(call).await,
        "getStarred" => starred(call, false).await,
        "getStarred2" => starred(call, true).await,
        "search2" => search_page(call, false).await,
        "search3" => search_page(call, true).await,
        "star" => star(call, true).await,
        "unstar" => star(call, false).await,
        "setRating" => set_rating(call).await,
        "scrobble" => scrobble(call).await,
        "stream" => stream(call, false).await,
        "download" => stream(call, true).await,
        "getCoverArt" => cover_art(call).await,
        "getPlaylists" => get_playlists(call).await,
        "getPlaylist" => get_playlist(call).await,
        "createPlaylist" => create_playlist(call).await,
        "updatePlaylist" => update_playlist(call).await,
        "deletePlaylist" => delete_playlist(call).await,
        "getPlayQueue" => get_play_queue(call).await,
        "savePlayQueue" => save_play_queue(call).await,
        // Information Fermata has none of yet: valid, empty answers.
        "getArtistInfo" | "getArtistInfo2" => {
            let name = if name == "getArtistInfo" { "artistInfo" } else { "artistInfo2" };
            Ok(Envelope::with(name, Element::new().list("similarArtist", [])).into())
        }
        "getAlbumInfo" | "getAlbumInfo2" => Ok(Envelope::with("albumInfo", Element::new()).into()),
        "getSimilarSongs" => similar_songs(call, "similarSongs").await,
        "getSimilarSongs2" => similar_songs(call, "similarSongs2").await,
        "getSonicSimilarTracks" => sonic_similar_tracks(call).await,
        "findSonicPath" => find_sonic_path(call).await,
        "getLyrics" => Ok(Envelope::with("lyrics", Element::new().text("")).into()),
        "getLyricsBySongId" => {
            let id = song_id(call.params.required("id")?)?;
            catalog::song(&call.state.db, call.user_id(), id).await?.ok_or_else(|| Failure::not_found("song"))?;
            Ok(Envelope::with("lyricsList", Element::new().list("structuredLyrics", [])).into())
        }
        "getPodcasts" => Ok(Envelope::with("podcasts", Element::new().list("channel", [])).into()),
        "getNewestPodcasts" => Ok(Envelope::with("newestPodcasts", Element::new().list("episode", [])).into()),
        "getInternetRadioStations" => {
            Ok(Envelope::with("internetRadioStations", Element::new().list("internetRadioStation", [])).into())
        }
        "getBookmarks" => Ok(Envelope::with("bookmarks", Element::new().list("bookmark", [])).into()),
        "getShares" => Ok(Envelope::with("shares", Element::new().list("share", [])).into()),
        "getChatMessages" => Ok(Envelope::with("chatMessages", Element::new().list("chatMessage", [])).into()),
        "getVideos" => Ok(Envelope::with("videos", Element::new().list("video", [])).into()),
        known if NOT_IMPLEMENTED.contains(&known) => {
            Err(Failure::new(code::GENERIC, format!("{known} is not implemented by this server"))
                .with_status(StatusCode::NOT_IMPLEMENTED))
        }
        other => {
            Err(Failure::new(code::GENERIC, format!("unknown method: {other}")).with_status(StatusCode::NOT_FOUND))
        }
    }
}

/// Methods of the protocol Fermata does not offer (HTTP 501).
const NOT_IMPLEMENTED: &[&str] = &[
    "search",
    "getUsers",
    "createUser",
    "updateUser",
    "deleteUser",
    "changePassword",
    "getAvatar",
    "jukeboxControl",
    "createShare",
    "updateShare",
    "deleteShare",
    "createBookmark",
    "deleteBookmark",
    "getPlayQueueByIndex",
    "savePlayQueueByIndex",
    "createInternetRadioStation",
    "updateInternetRadioStation",
    "deleteInternetRadioStation",
    "refreshPodcasts",
    "createPodcastChannel",
    "deletePodcastChannel",
    "deletePodcastEpisode",
    "downloadPodcastEpisode",
    "getPodcastEpisode",
    "addChatMessage",
    "getVideoInfo",
    "getCaptions",
    "hls",
    "getTranscodeDecision",
    "getTranscodeStream",
    "reportPlayback",
];

fn song_id(text: &str) -> Result<SongId, Failure> {
    match Id::parse(text) {
        Some(Id::Song(id)) => Ok(id),
        _ => Err(Failure::not_found("song")),
    }
}

fn page(call: &Call, name: &str, default: u64) -> Result<u64, Failure> {
    Ok(call.params.number(name, 0..=MAX_PAGE)?.unwrap_or(default))
}

fn offset(call: &Call, name: &str) -> Result<u64, Failure> {
    Ok(call.params.number(name, 0..=10_000_000u64)?.unwrap_or(0))
}

async fn get_user(call: &Call) -> Answer {
    let username = call.params.required("username")?;
    let user = if username.eq_ignore_ascii_case(&call.user.username) {
        call.user.clone()
    } else if call.is_admin() {
        fermata_core::accounts::find_by_login(&call.state.db, username)
            .await?
            .filter(|u| u.username.eq_ignore_ascii_case(username))
            .ok_or_else(|| Failure::not_found("user"))?
    } else {
        return Err(Failure::new(code::NOT_AUTHORISED, "only admins see other accounts"));
    };
    let admin = fermata_core::accounts::Role::of(&user) == fermata_core::accounts::Role::Admin;
    let element = Element::new()
        .attr("username", user.username.as_str())
        .attr("email", user.email.as_str())
        .attr("scrobblingEnabled", true)
        .attr("adminRole", admin)
        .attr("settingsRole", true)
        .attr("downloadRole", true)
        .attr("uploadRole", admin)
        .attr("playlistRole", true)
        .attr("coverArtRole", false)
        .attr("commentRole", false)
        .attr("podcastRole", false)
        .attr("streamRole", true)
        .attr("jukeboxRole", false)
        .attr("shareRole", false)
        .attr("videoConversionRole", false)
        .values("folder", [1]);
    Ok(Envelope::with("user", element).into())
}

async fn scan_status(call: &Call) -> Answer {
    if !call.is_admin() {
        return Err(Failure::new(code::NOT_AUTHORISED, "only admins see the scan's status"));
    }
    let job = jobs::latest_scan(&call.state.db).await?;
    let scanning = job.as_ref().is_some_and(|j| {
        matches!(<JobState as sea_orm::ActiveEnum>::try_from_value(&j.status), Ok(JobState::Queued | JobState::Running))
    });
    let count = job
        .as_ref()
        .and_then(|j| j.progress.as_ref())
        .and_then(|p| p.get("done").or_else(|| p.get("files")))
        .and_then(serde_json::Value::as_i64);
    Ok(Envelope::with("scanStatus", Element::new().attr("scanning", scanning).opt("count", count)).into())
}

async fn start_scan(call: &Call) -> Answer {
    if !call.is_admin() {
        return Err(Failure::new(code::NOT_AUTHORISED, "only admins start a scan"));
    }
    if call.state.config.music_dir.is_none() {
        return Err(Failure::new(code::GENERIC, "no library folder: the server has no MUSIC_DIR"));
    }
    call.state.memory.admit().map_err(Failure::from)?;
    match jobs::enqueue_scan(&call.state.db).await {
        // A scan already queued or running is the one the client wanted.
        Ok(_) | Err(Error::Conflict { .. }) => scan_status(call).await,
        Err(e) => Err(e.into()),
    }
}

async fn now_playing(call: &Call) -> Answer {
    let entries = queue::now_playing(&call.state.db, call.user_id(), call.state.config.now_playing_shared).await?;
    let now = Utc::now();
    let entries = entries.iter().map(|entry| {
        views::song(&entry.song)
            .attr("username", entry.username.as_str())
            .attr("minutesAgo", (now - entry.started_at.with_timezone(&Utc)).num_minutes().max(0))
            .attr("playerId", 1)
            .attr("playerName", entry.player.as_str())
    });
    Ok(Envelope::with("nowPlaying", Element::new().list("entry", entries)).into())
}

async fn artists(call: &Call, id3: bool) -> Answer {
    let db = &call.state.db;
    // The folder index says when it last changed; a client that has that version is told so with no artists.
    let changed = browse::index_changed_at(db).await?.timestamp_millis();
    if !id3 && call.params.number("ifModifiedSince", 0..=i64::MAX)?.is_some_and(|since| since >= changed) {
        let element = Element::new().attr("ignoredArticles", views::IGNORED_ARTICLES).attr("lastModified", changed);
        return Ok(Envelope::with("indexes", element).into());
    }
    let artists = browse::artists_from(db, 0, MAX_INDEX).await?;
    // Stars from the listener's (short) starred list, not a lookup of every artist in the index.
    let starred: Vec<ArtistId> = stars::starred_artists(db, call.user_id()).await?.iter().map(|a| a.id).collect();
    let stars = stars::artist_stars(db, call.user_id(), &starred).await?;
    let mut index: BTreeMap<String, Vec<Element>> = BTreeMap::new();
    for artist in &artists {
        let star = stars.get(&artist.id).copied();
        let element = if id3 { views::artist(artist, star) } else { views::artist_folder(artist, star) };
        index.entry(views::index_letter(&artist.name)).or_default().push(element);
    }
    let index = index.into_iter().map(|(letter, artists)| Element::new().attr("name", letter).list("artist", artists));
    if id3 {
        let element = Element::new().attr("ignoredArticles", views::IGNORED_ARTICLES).list("index", index);
        Ok(Envelope::with("artists", element).into())
    } else {
        let element = Element::new()
            .attr("ignoredArticles", views::IGNORED_ARTICLES)
            .attr("lastModified", changed)
            .list("index", index);
        Ok(Envelope::with("indexes", element).into())
    }
}

fn artist_of(text: &str) -> Result<ArtistId, Failure> {
    match Id::parse(text) {
        Some(Id::Artist(id)) => Ok(id),
        _ => Err(Failure::not_found("artist")),
    }
}

fn album_of(text: &str) -> Result<AlbumId, Failure> {
    match Id::parse(text) {
        Some(Id::Album(id)) => Ok(id),
        _ => Err(Failure::not_found("album")),
    }
}

async fn album_stars(
    call: &Call,
    albums: &[browse::Album],
) -> Result<HashMap<AlbumId, chrono::DateTime<chrono::FixedOffset>>, Failure> {
    let ids: Vec<AlbumId> = albums.iter().map(|a| a.id).collect();
    Ok(stars::album_stars(&call.state.db, call.user_id(), &ids).await?)
}

async fn artist(call: &Call) -> Answer {
    let id = artist_of(call.params.required("id")?)?;
    let (artist, albums) = browse::artist(&call.state.db, id).await?.ok_or_else(|| Failure::not_found("artist"))?;
    let star = stars::artist_stars(&call.state.db, call.user_id(), &[id]).await?.get(&id).copied();
    let stars = album_stars(call, &albums).await?;
    let element =
        views::artist(&artist, star).list("album", albums.iter().map(|a| views::album(a, stars.get(&a.id).copied())));
    Ok(Envelope::with("artist", element).into())
}

async fn album(call: &Call) -> Answer {
    let id = album_of(call.params.required("id")?)?;
    let (album, songs) =
        browse::album(&call.state.db, call.user_id(), id).await?.ok_or_else(|| Failure::not_found("album"))?;
    let star = stars::album_stars(&call.state.db, call.user_id(), &[id]).await?.get(&id).copied();
    let element = views::album(&album, star).list("song", songs.iter().map(views::song));
    Ok(Envelope::with("album", element).into())
}

async fn song(call: &Call) -> Answer {
    let id = song_id(call.params.required("id")?)?;
    let song = catalog::song(&call.state.db, call.user_id(), id).await?.ok_or_else(|| Failure::not_found("song"))?;
    Ok(Envelope::with("song", views::song(&song)).into())
}

/// Songs that sound like a song, an album or an artist (the seed's own songs left out), from the sonic vectors:
/// no Last.fm, any library. Nothing analysed yet answers an empty list, as a server without similarity data does.
async fn similar_songs(call: &Call, name: &'static str) -> Answer {
    let seed = match Id::parse(call.params.required("id")?) {
        Some(Id::Song(id)) => Seed::Song(id),
        Some(Id::Album(id)) => Seed::Album(id),
        Some(Id::Artist(id)) => Seed::Artist(id),
        None => return Err(Failure::not_found("song, album or artist")),
    };
    let count = page(call, "count", 50)?.min(similar::MAX_LIMIT);
    let songs = match similar::similar(&call.state.db, &call.state.search, call.user_id(), seed, count, false).await {
        Err(Error::Conflict { .. }) => Vec::new(),
        Err(Error::NotFound) => return Err(Failure::not_found("song, album or artist")),
        found => found?,
    };
    Ok(Envelope::with(name, Element::new().list("song", songs.iter().map(|found| views::song(&found.song)))).into())
}

/// The sonicSimilarity extension's getSonicSimilarTracks: like getSimilarSongs for one song, each with its
/// similarity (1 the same sound, 0 the most different).
async fn sonic_similar_tracks(call: &Call) -> Answer {
    let id = song_id(call.params.required("id")?)?;
    let count = page(call, "count", 10)?.min(similar::MAX_LIMIT);
    let found = similar::similar(&call.state.db, &call.state.search, call.user_id(), Seed::Song(id), count, false)
        .await
        .map_err(sonic_failure)?;
    Ok(Envelope::with_list("sonicMatch", found.iter().map(sonic_match)).into())
}

/// The sonicSimilarity extension's findSonicPath: songs leading by sound from one song to another.
async fn find_sonic_path(call: &Call) -> Answer {
    let from = song_id(call.params.required("startSongId")?)?;
    let to = song_id(call.params.required("endSongId")?)?;
    let count = page(call, "count", 25)?;
    let path = similar::path(&call.state.db, &call.state.search, call.user_id(), from, to, count)
        .await
        .map_err(sonic_failure)?;
    Ok(Envelope::with_list("sonicMatch", path.iter().map(sonic_match)).into())
}

fn sonic_match(found: &similar::Scored) -> Element {
    Element::new().child("entry", views::song(&found.song)).attr("similarity", f64::from(found.similarity))
}

/// A song not analysed yet has no place in similarity space: "not found" in Subsonic's terms, with why.
fn sonic_failure(e: Error) -> Failure {
    match e {
        Error::Conflict { message, .. } => Failure::new(code::NOT_FOUND, message),
        other => other.into(),
    }
}

async fn music_directory(call: &Call) -> Answer {
    let db = &call.state.db;
    let directory = match Id::parse(call.params.required("id")?) {
        Some(Id::Artist(id)) => {
            let (artist, albums) = browse::artist(db, id).await?.ok_or_else(|| Failure::not_found("directory"))?;
            let stars = album_stars(call, &albums).await?;
            Element::new()
                .attr("id", views::artist_id(artist.id))
                .attr("parent", "1")
                .attr("name", artist.name.as_str())
                .list("child", albums.iter().map(|a| views::album_folder(a, stars.get(&a.id).copied())))
        }
        Some(Id::Album(id)) => {
            let (album, songs) =
                browse::album(db, call.user_id(), id).await?.ok_or_else(|| Failure::not_found("directory"))?;
            let star = stars::album_stars(db, call.user_id(), &[id]).await?.get(&id).copied();
            Element::new()
                .attr("id", views::album_id(album.id))
                .attr("parent", views::artist_id(album.artist_id))
                .attr("name", album.title.as_str())
                .opt("starred", star.map(views::time))
                .attr("playCount", album.play_count)
                .list("child", songs.iter().map(views::song))
        }
        _ => return Err(Failure::not_found("directory")),
    };
    Ok(Envelope::with("directory", directory).into())
}

async fn genres(call: &Call) -> Answer {
    let (genres, _) = browse::genres(&call.state.db, 0, 10_000).await?;
    let genres = genres.iter().map(|g| {
        Element::new().attr("songCount", g.song_count).attr("albumCount", g.album_count).text(g.name.as_str())
    });
    Ok(Envelope::with("genres", Element::new().list("genre", genres)).into())
}

async fn top_songs(call: &Call) -> Answer {
    let artist = call.params.required("artist")?;
    let count = page(call, "count", 50)?;
    let filter = songs::SongFilter { artist: Some(artist.to_owned()), ..Default::default() };
    let songs =
        songs::list(&call.state.db, call.user_id(), &filter, songs::SongSort::Plays, Order::Desc, None, count.max(1))
            .await?
            .items;
    let songs = songs.iter().take(count as usize).map(views::song);
    Ok(Envelope::with("topSongs", Element::new().list("song", songs)).into())
}

async fn album_list(call: &Call, id3: bool) -> Answer {
    let params = &call.params;
    let list = match params.required("type")? {
        "random" => AlbumList::Random,
        "newest" => AlbumList::Newest,
        "recent" => AlbumList::Recent,
        "frequent" => AlbumList::Frequent,
        "highest" => AlbumList::Highest,
        "alphabeticalByName" => AlbumList::ByName,
        "alphabeticalByArtist" => AlbumList::ByArtist,
        "starred" => AlbumList::Starred,
        "byYear" => AlbumList::ByYear {
            from: params.number("fromYear", 0..=9999)?.ok_or_else(|| Failure::missing("fromYear"))?,
            to: params.number("toYear", 0..=9999)?.ok_or_else(|| Failure::missing("toYear"))?,
        },
        "byGenre" => AlbumList::ByGenre(params.required("genre")?.to_owned()),
        other => return Err(Failure::invalid("type", format!("{other} is not a list type"))),
    };
    let size = page(call, "size", 10)?;
    let offset = offset(call, "offset")?;
    let albums = browse::album_list(&call.state.db, call.user_id(), &list, offset, size).await?;
    let stars = album_stars(call, &albums).await?;
    if id3 {
        let albums = albums.iter().map(|a| views::album(a, stars.get(&a.id).copied()));
        Ok(Envelope::with("albumList2", Element::new().list("album", albums)).into())
    } else {
        let albums = albums.iter().map(|a| views::album_folder(a, stars.get(&a.id).copied()));
        Ok(Envelope::with("albumList", Element::new().list("album", albums)).into())
    }
}

async fn random_songs(call: &Call) -> Answer {
    let size = page(call, "size", 10)?;
    let years = (call.params.number("fromYear", 0..=9999)?, call.params.number("toYear", 0..=9999)?);
    let songs = songs::random(&call.state.db, call.user_id(), call.params.get("genre"), years, size).await?;
    Ok(Envelope::with("randomSongs", Element::new().list("song", songs.iter().map(views::song))).into())
}

async fn songs_by_genre(call: &Call) -> Answer {
    let genre = call.params.required("genre")?;
    let count = page(call, "count", 10)?;
    let offset = offset(call, "offset")?;
    let songs = songs::by_genre(&call.state.db, call.user_id(), genre, offset, count).await?;
    Ok(Envelope::with("songsByGenre", Element::new().list("song", songs.iter().map(views::song))).into())
}

async fn starred(call: &Call, id3: bool) -> Answer {
    let db = &call.state.db;
    let user = call.user_id();
    let artists = stars::starred_artists(db, user).await?;
    let albums = stars::starred_albums(db, user).await?;
    let artist_stars = stars::artist_stars(db, user, &artists.iter().map(|a| a.id).collect::<Vec<_>>()).await?;
    let album_stars = album_stars(call, &albums).await?;
    let mut songs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = plays::favourites(db, user, cursor.as_deref(), MAX_PAGE).await?;
        songs.extend(page.items.into_iter().map(|(_, song)| song));
        match page.next_cursor {
            Some(next) if (songs.len() as u64) < stars::MAX_LISTED => cursor = Some(next),
            _ => break,
        }
    }
    let (name, artists, albums) = if id3 {
        (
            "starred2",
            artists.iter().map(|a| views::artist(a, artist_stars.get(&a.id).copied())).collect::<Vec<_>>(),
            albums.iter().map(|a| views::album(a, album_stars.get(&a.id).copied())).collect::<Vec<_>>(),
        )
    } else {
        (
            "starred",
            artists.iter().map(|a| views::artist_folder(a, artist_stars.get(&a.id).copied())).collect(),
            albums.iter().map(|a| views::album_folder(a, album_stars.get(&a.id).copied())).collect(),
        )
    };
    let element =
        Element::new().list("artist", artists).list("album", albums).list("song", songs.iter().map(views::song));
    Ok(Envelope::with(name, element).into())
}

/// Whether a search3 query asks for everything: empty, or an empty string in quotes (what Symfonium and
/// substreamer send to copy the whole library).
fn is_everything(query: &str) -> bool {
    matches!(query.trim(), "" | "\"\"" | "''")
}

async fn search_page(call: &Call, id3: bool) -> Answer {
    let db = &call.state.db;
    let user = call.user_id();
    let query = call.params.text("query").unwrap_or("");
    let (artist_count, artist_offset) = (page(call, "artistCount", 20)?, offset(call, "artistOffset")?);
    let (album_count, album_offset) = (page(call, "albumCount", 20)?, offset(call, "albumOffset")?);
    let (song_count, song_offset) = (page(call, "songCount", 20)?, offset(call, "songOffset")?);
    let (artists, albums, songs) = if is_everything(query) {
        let artists =
            if artist_count > 0 { browse::artists_from(db, artist_offset, artist_count).await? } else { vec![] };
        let albums = if album_count > 0 {
            browse::album_list(db, user, &AlbumList::ByName, album_offset, album_count).await?
        } else {
            vec![]
        };
        let songs = if song_count > 0 { songs::all_from(db, user, song_offset, song_count).await? } else { vec![] };
        (artists, albums, songs)
    } else {
        // Ranked search: the best matches, paged within them.
        let deepest = (artist_offset + artist_count).max(album_offset + album_count).max(song_offset + song_count);
        let results = search::search(db, &call.state.search, user, query, deepest.clamp(1, MAX_PAGE * 2)).await?;
        let window = |len: usize, offset: u64, count: u64| {
            let start = (offset as usize).min(len);
            start..(start + count as usize).min(len)
        };
        let artists = results.artists[window(results.artists.len(), artist_offset, artist_count)].to_vec();
        let albums = results.albums[window(results.albums.len(), album_offset, album_count)].to_vec();
        let songs = results.songs[window(results.songs.len(), song_offset, song_count)].to_vec();
        (artists, albums, songs)
    };
    let artist_stars = stars::artist_stars(db, user, &artists.iter().map(|a| a.id).collect::<Vec<_>>()).await?;
    let album_stars = album_stars(call, &albums).await?;
    let element = if id3 {
        Element::new()
            .list("artist", artists.iter().map(|a| views::artist(a, artist_stars.get(&a.id).copied())))
            .list("album", albums.iter().map(|a| views::album(a, album_stars.get(&a.id).copied())))
    } else {
        Element::new()
            .list("artist", artists.iter().map(|a| views::artist_folder(a, artist_stars.get(&a.id).copied())))
            .list("album", albums.iter().map(|a| views::album_folder(a, album_stars.get(&a.id).copied())))
    };
    let element = element.list("song", songs.iter().map(views::song));
    Ok(Envelope::with(if id3 { "searchResult3" } else { "searchResult2" }, element).into())
}

async fn star(call: &Call, on: bool) -> Answer {
    let db = &call.state.db;
    let user = call.user_id();
    let params = &call.params;
    let mut targets: Vec<Id> = Vec::new();
    for text in params.all("id", MAX_MARKS)? {
        targets.push(Id::parse(text).ok_or_else(|| Failure::not_found("item"))?);
    }
    for text in params.all("albumId", MAX_MARKS)? {
        targets.push(Id::Album(album_of(text)?));
    }
    for text in params.all("artistId", MAX_MARKS)? {
        targets.push(Id::Artist(artist_of(text)?));
    }
    if targets.len() > MAX_MARKS {
        return Err(Failure::invalid("id", format!("at most {MAX_MARKS} items at once")));
    }
    for target in targets {
        let found = match target {
            Id::Song(id) => plays::set_favourite(db, user, id, on).await?,
            Id::Album(id) => stars::star_album(db, user, id, on).await?,
            Id::Artist(id) => stars::star_artist(db, user, id, on).await?,
        };
        if !found {
            return Err(Failure::not_found("item"));
        }
    }
    Ok(Envelope::ok().into())
}

async fn set_rating(call: &Call) -> Answer {
    let rating: u8 = call.params.number("rating", 0..=5)?.ok_or_else(|| Failure::missing("rating"))?;
    match Id::parse(call.params.required("id")?) {
        Some(Id::Song(id)) => {
            if !stars::rate(&call.state.db, call.user_id(), id, rating).await? {
                return Err(Failure::not_found("song"));
            }
            Ok(Envelope::ok().into())
        }
        Some(_) => Err(Failure::new(code::GENERIC, "ratings are kept for songs; rate the album's songs")),
        None => Err(Failure::not_found("item")),
    }
}

/// Plays one scrobble call may submit (a client's offline queue flushes in calls of a few).
const MAX_SCROBBLES: usize = 50;

async fn scrobble(call: &Call) -> Answer {
    let params = &call.params;
    let ids = params.all("id", MAX_SCROBBLES)?;
    if ids.is_empty() {
        return Err(Failure::missing("id"));
    }
    let times = params.all("time", MAX_SCROBBLES)?;
    if !times.is_empty() && times.len() != ids.len() {
        return Err(Failure::invalid("time", "must be given once per id, or not at all"));
    }
    let submission = params.bool("submission")?.unwrap_or(true);
    if submission {
        // Per listener and minute, whole calls at a time: global charts count these.
        let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        call.state.rate_limits.check_scrobbles(call.user_id().0, count).map_err(Failure::from)?;
    }
    for (i, text) in ids.iter().enumerate() {
        let id = song_id(text)?;
        let at = match times.get(i) {
            Some(ms) => {
                let ms: i64 =
                    ms.trim().parse().map_err(|_| Failure::invalid("time", "must be milliseconds since 1970"))?;
                Some(Utc.timestamp_millis_opt(ms).single().ok_or_else(|| Failure::invalid("time", "is out of range"))?)
            }
            None => None,
        };
        let found = if submission {
            plays::record(&call.state.db, call.user_id(), id, at).await?.is_some()
        } else {
            queue::playing(&call.state.db, call.user_id(), id, &call.client()).await?
        };
        if !found {
            return Err(Failure::not_found("song"));
        }
    }
    Ok(Envelope::ok().into())
}

async fn stream(call: &Call, download: bool) -> Answer {
    let id = song_id(call.params.required("id")?)?;
    // `download` is the stored file. A `format` Fermata does not make (`flac`, a client's own name) is treated
    // as none, so the app still plays something rather than nothing; `maxBitRate` alone gets
    // TRANSCODE_SUBSONIC_FORMAT.
    let request = if download {
        transcode::Request { format: Some(transcode::Choice::Raw), ..transcode::Request::default() }
    } else {
        transcode::Request {
            format: call.params.get("format").and_then(transcode::Choice::parse),
            max_bitrate: call.params.number("maxBitRate", 0..=100_000)?,
            offset_secs: call.params.number("timeOffset", 0..=86_400)?.unwrap_or(0),
        }
    };
    let default_format = call.state.config.transcode_subsonic_format;
    let mut response = crate::catalog::stream::serve_song(
        &call.state,
        call.user_id().0,
        id.0,
        &request,
        default_format,
        call.http_method == axum::http::Method::HEAD,
        &call.headers,
    )
    .await?;
    if download && response.status().is_success() {
        let song =
            catalog::song(&call.state.db, call.user_id(), id).await?.ok_or_else(|| Failure::not_found("song"))?;
        let name = format!("{}.{}", song.title.replace(['"', '\\', '/'], "_"), song.codec.suffix());
        let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
        let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
        if let Ok(value) =
            HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        {
            response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(Reply::Raw(response))
}

/// The thumbnail sizes the cover cache keeps, for the nearest one at or above what a client asks.
fn cover_size(asked: Option<u32>) -> Option<u32> {
    let asked = asked?;
    let sizes = crate::catalog::views::COVER_SIZES;
    Some(sizes.iter().copied().find(|&s| s >= asked).unwrap_or(sizes[sizes.len() - 1]))
}

async fn cover_art(call: &Call) -> Answer {
    let db = &call.state.db;
    let id = call.params.required("id")?;
    let size = cover_size(call.params.number("size", 1..=100_000)?);
    let cover_path = match Id::parse(id) {
        Some(Id::Album(id)) => catalog::album_cover(db, id).await?,
        Some(Id::Song(id)) => match catalog::song_cover(db, id).await? {
            Some(path) => Some(path),
            // A playlist's id: its cover is its cover album's.
            None => match playlists::visible(db, call.user_id(), PlaylistId(id.0)).await?.and_then(|p| p.cover_album) {
                Some(album) => catalog::album_cover(db, album).await?,
                None => None,
            },
        },
        _ => None,
    };
    let cover_path = cover_path.ok_or_else(|| Failure::not_found("cover art"))?;
    Ok(Reply::Raw(crate::catalog::stream::cover(&call.state, Some(cover_path), size, &call.headers).await?))
}

fn playlist_of(text: &str) -> Result<PlaylistId, Failure> {
    text.trim().parse::<Uuid>().map(PlaylistId).map_err(|_| Failure::not_found("playlist"))
}

/// A playlist's name by the web player's rules (1 to 100 characters of one line).
fn playlist_name(name: &str) -> Result<String, Failure> {
    fermata_core::text::text_line(name)
        .map_err(|_| Failure::invalid("name", "must not be blank or hold control characters"))?;
    if name.trim().chars().count() > 100 {
        return Err(Failure::invalid("name", "must be at most 100 characters"));
    }
    Ok(name.trim().to_owned())
}

fn playlist_comment(comment: &str) -> Result<String, Failure> {
    fermata_core::text::no_nul(comment).map_err(|_| Failure::invalid("comment", "must not contain NUL characters"))?;
    if comment.chars().count() > 2000 {
        return Err(Failure::invalid("comment", "must be at most 2000 characters"));
    }
    Ok(comment.to_owned())
}

async fn playlist_answer(call: &Call, id: PlaylistId) -> Answer {
    let (playlist, entries) = playlists::whole(&call.state.db, call.user_id(), id).await?;
    let element = views::playlist(&playlist).list("entry", entries.iter().map(|e| views::song(&e.song)));
    Ok(Envelope::with("playlist", element).into())
}

async fn get_playlists(call: &Call) -> Answer {
    if let Some(username) = call.params.get("username")
        && !username.eq_ignore_ascii_case(&call.user.username)
        && !call.is_admin()
    {
        return Err(Failure::new(code::NOT_AUTHORISED, "only admins list other accounts' playlists"));
    }
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = playlists::list(&call.state.db, call.user_id(), cursor.as_deref(), MAX_PAGE).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) if (all.len() as u64) < MAX_PLAYLISTS => cursor = Some(next),
            _ => break,
        }
    }
    if let Some(username) = call.params.get("username") {
        all.retain(|p| p.owner_name.eq_ignore_ascii_case(username));
    }
    Ok(Envelope::with("playlists", Element::new().list("playlist", all.iter().map(views::playlist))).into())
}

async fn get_playlist(call: &Call) -> Answer {
    playlist_answer(call, playlist_of(call.params.required("id")?)?).await
}

fn song_ids(call: &Call, name: &str) -> Result<Vec<SongId>, Failure> {
    call.params.all(name, MAX_VALUES)?.into_iter().map(song_id).collect()
}

async fn create_playlist(call: &Call) -> Answer {
    let db = &call.state.db;
    let user = call.user_id();
    let songs = song_ids(call, "songId")?;
    let id = match call.params.get("playlistId") {
        Some(id) => {
            let id = playlist_of(id)?;
            if let Some(name) = call.params.get("name") {
                let change = playlists::PlaylistChange { name: Some(playlist_name(name)?), ..Default::default() };
                playlists::update(db, user, id, change).await?;
            }
            playlists::edit_entries(db, user, id, Removal::All, &songs).await?;
            id
        }
        None => {
            let name = playlist_name(call.params.required("name")?)?;
            let new = playlists::NewPlaylist { name, description: None, public: false };
            let id = playlists::create(db, user, new).await?;
            if let Err(e) = playlists::edit_entries(db, user, id, Removal::Positions(&[]), &songs).await {
                // Nothing half-made is left behind.
                playlists::delete(db, user, fermata_core::accounts::Role::of(&call.user), id).await?;
                return Err(e.into());
            }
            id
        }
    };
    playlist_answer(call, id).await
}

async fn update_playlist(call: &Call) -> Answer {
    let db = &call.state.db;
    let user = call.user_id();
    let params = &call.params;
    let id = playlist_of(params.required("playlistId")?)?;
    let change = playlists::PlaylistChange {
        name: params.get("name").map(playlist_name).transpose()?,
        description: params
            .text("comment")
            .map(|c| playlist_comment(c).map(|c| Some(c).filter(|c| !c.is_empty())))
            .transpose()?,
        public: params.bool("public")?,
    };
    let add = song_ids(call, "songIdToAdd")?;
    let remove = params
        .all("songIndexToRemove", MAX_VALUES)?
        .into_iter()
        .map(|i| i.trim().parse::<i64>().map_err(|_| Failure::invalid("songIndexToRemove", "must be a number")))
        .collect::<Result<Vec<_>, _>>()?;
    let changes_details = change.name.is_some() || change.description.is_some() || change.public.is_some();
    if changes_details {
        playlists::update(db, user, id, change).await?;
    }
    if !add.is_empty() || !remove.is_empty() || !changes_details {
        playlists::edit_entries(db, user, id, Removal::Positions(&remove), &add).await?;
    }
    Ok(Envelope::ok().into())
}

async fn delete_playlist(call: &Call) -> Answer {
    let id = playlist_of(call.params.required("id")?)?;
    playlists::delete(&call.state.db, call.user_id(), fermata_core::accounts::Role::of(&call.user), id).await?;
    Ok(Envelope::ok().into())
}

async fn get_play_queue(call: &Call) -> Answer {
    let Some(queue) = queue::get(&call.state.db, call.user_id()).await? else {
        // No saved queue: still the element the schema requires (username, changed, changedBy), empty.
        let element = Element::new()
            .attr("position", 0)
            .attr("username", call.user.username.as_str())
            .attr("changed", views::time(chrono::DateTime::UNIX_EPOCH.fixed_offset()))
            .attr("changedBy", "");
        return Ok(Envelope::with("playQueue", element).into());
    };
    let element = Element::new()
        .opt("current", queue.current.map(|c| c.to_string()))
        .attr("position", queue.position_ms)
        .attr("username", call.user.username.as_str())
        .attr("changed", views::time(queue.changed_at))
        .attr("changedBy", queue.changed_by.as_str())
        .list("entry", queue.songs.iter().map(views::song));
    Ok(Envelope::with("playQueue", element).into())
}

async fn save_play_queue(call: &Call) -> Answer {
    let songs = song_ids(call, "id")?;
    let current = call.params.get("current").map(song_id).transpose()?;
    let position = call.params.number("position", 0..=i64::MAX)?.unwrap_or(0);
    queue::save(&call.state.db, call.user_id(), &songs, current, position, &call.client()).await?;
    Ok(Envelope::ok().into())
}
