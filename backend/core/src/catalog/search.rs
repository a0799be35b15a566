//! Search across songs, albums and artists, answered from an index each replica keeps in memory
//! ([`super::index`]: accent and case folding, prefixes while typing, typo tolerance, ranking), so a search costs
//! the database one primary-key read per kind of result instead of a full-text query per word.
//!
//! Every replica builds the same index from the database when its LISTEN connection is up (at start and after
//! every reconnection, when notifications may have been missed) and keeps it current from the notifications
//! triggers send on [`CHANNEL`] for every insert, change and removal of a song, album or artist (migration
//! 000014): a write anywhere is searchable everywhere within milliseconds, not at the next reload.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use futures::TryStreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    sea_query::{Expr, SelectStatement},
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Song, T,
    browse::{Album, Artist},
    index::{Index, SongRow},
    sound::{SoundRow, Sounds},
};
use crate::{
    entities::{albums, artists, songs},
    error::{Error, Result},
    ids::UserId,
    run::all,
};

/// The channel the catalogue's triggers announce changed rows on: `s:`, `l:` or `a:` (songs, albums, artists)
/// and up to 200 comma-separated ids.
pub const CHANNEL: &str = "fermata_catalog";

/// How long a search waits for the first build of the index after the replica starts.
const READY_WAIT: Duration = Duration::from_secs(10);

/// Ids read per statement when applying changes.
const READ_CHUNK: usize = 1000;

#[derive(Debug, Default)]
pub struct Results {
    pub songs: Vec<Song>,
    pub albums: Vec<Album>,
    pub artists: Vec<Artist>,
}

enum Change {
    /// Read everything again (the LISTEN connection is new: notifications may have been missed).
    Reload,
    Songs(Vec<Uuid>),
    Albums(Vec<Uuid>),
    Artists(Vec<Uuid>),
}

/// This replica's search index, its songs by sound ([`Sounds`]: what "similar" and radio read), and what keeps
/// both current.
pub struct SearchIndex {
    index: RwLock<Index>,
    sounds: RwLock<Sounds>,
    ready: watch::Sender<bool>,
    changes: mpsc::UnboundedSender<Change>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
}

impl SearchIndex {
    pub fn new() -> Arc<Self> {
        let (changes, receiver) = mpsc::unbounded_channel();
        Arc::new(Self {
            index: RwLock::default(),
            sounds: RwLock::default(),
            ready: watch::channel(false).0,
            changes,
            receiver: Mutex::new(Some(receiver)),
        })
    }

    /// Applies announced changes and reloads until `stop` (once per index).
    pub fn spawn_refresher(self: &Arc<Self>, db: DatabaseConnection, stop: CancellationToken) {
        let Some(receiver) = self.receiver.lock().expect("not poisoned").take() else { return };
        tokio::spawn(self.clone().refresh(db, receiver, stop));
    }

    /// The LISTEN connection is up: whatever was announced while it was down is read by a full reload.
    pub fn listening(&self) {
        let _ = self.changes.send(Change::Reload);
    }

    /// A notification on [`CHANNEL`].
    pub fn notified(&self, payload: &str) {
        let Some((kind, ids)) = payload.split_once(':') else {
            tracing::warn!("ignored a malformed catalogue notification");
            return;
        };
        let ids: Vec<Uuid> = ids.split(',').filter_map(|id| id.parse().ok()).collect();
        let change = match kind {
            "s" => Change::Songs(ids),
            "l" => Change::Albums(ids),
            "a" => Change::Artists(ids),
            _ => return tracing::warn!(kind, "ignored a catalogue notification of an unknown kind"),
        };
        let _ = self.changes.send(change);
    }

    async fn refresh(
        self: Arc<Self>,
        db: DatabaseConnection,
        mut receiver: mpsc::UnboundedReceiver<Change>,
        stop: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                change = receiver.recv() => match change { Some(change) => change, None => return },
            };
            // Everything already announced is applied together: one read per kind, not per notification.
            let mut batch = vec![first];
            while batch.len() < 256 {
                match receiver.try_recv() {
                    Ok(change) => batch.push(change),
                    Err(_) => break,
                }
            }
            let result = if batch.iter().any(|c| matches!(c, Change::Reload)) {
                self.reload(&db).await
            } else {
                self.apply(&db, batch).await
            };
            if let Err(e) = result {
                // The database is away; the LISTEN connection notices too and asks for a reload when it is back.
                // Until then, try again now and then so the index does not stay behind.
                tracing::warn!("cannot bring the search index up to date, retrying: {e}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let _ = self.changes.send(Change::Reload);
            }
        }
    }

    /// Builds a new index from every row (beside the one in use, which answers meanwhile), then swaps it in.
    async fn reload(&self, db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        let started = std::time::Instant::now();
        let mut index = Index::default();
        let mut sounds = Sounds::default();
        let mut rows = artists::Entity::find().stream(db).await?;
        while let Some(artist) = rows.try_next().await? {
            index.put_artist(artist.id, &artist.name);
        }
        drop(rows);
        let mut rows = albums::Entity::find().stream(db).await?;
        while let Some(album) = rows.try_next().await? {
            index.put_album(album.id, &album.title, album.artist_id);
        }
        drop(rows);
        let mut rows = song_rows().into_model::<IndexedSong>().stream(db).await?;
        while let Some(song) = rows.try_next().await? {
            index.put_song(song.row());
            sounds.put(song.sound());
        }
        drop(rows);
        index.shrink_to_fit();
        sounds.shrink_to_fit();
        let sizes = index.sizes();
        let analysed = sounds.len();
        *self.index.write().expect("not poisoned") = index;
        *self.sounds.write().expect("not poisoned") = sounds;
        self.ready.send_replace(true);
        tracing::info!(?sizes, analysed, seconds = started.elapsed().as_secs_f64(), "search index built");
        Ok(())
    }

    async fn apply(&self, db: &DatabaseConnection, batch: Vec<Change>) -> Result<(), sea_orm::DbErr> {
        let (mut song_ids, mut album_ids, mut artist_ids) = (Vec::new(), Vec::new(), Vec::new());
        for change in batch {
            match change {
                Change::Songs(ids) => song_ids.extend(ids),
                Change::Albums(ids) => album_ids.extend(ids),
                Change::Artists(ids) => artist_ids.extend(ids),
                Change::Reload => unreachable!("reloads are not applied piecemeal"),
            }
        }
        for ids in [&mut song_ids, &mut album_ids, &mut artist_ids] {
            ids.sort_unstable();
            ids.dedup();
        }
        // Read first, then change the index in one short write lock: searches never wait on the database.
        let mut found_artists = HashMap::new();
        for chunk in artist_ids.chunks(READ_CHUNK) {
            let rows = artists::Entity::find().filter(artists::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
            found_artists.extend(rows.into_iter().map(|a| (a.id, a)));
        }
        let mut found_albums = HashMap::new();
        for chunk in album_ids.chunks(READ_CHUNK) {
            let rows = albums::Entity::find().filter(albums::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
            found_albums.extend(rows.into_iter().map(|a| (a.id, a)));
        }
        let mut found_songs = HashMap::new();
        for chunk in song_ids.chunks(READ_CHUNK) {
            let rows = song_rows()
                .filter(songs::Column::Id.is_in(chunk.iter().copied()))
                .into_model::<IndexedSong>()
                .all(db)
                .await?;
            found_songs.extend(rows.into_iter().map(|s| (s.id, s)));
        }
        let mut index = self.index.write().expect("not poisoned");
        for id in artist_ids {
            match found_artists.get(&id) {
                Some(artist) => index.put_artist(id, &artist.name),
                None => index.remove_artist(id),
            }
        }
        for id in album_ids {
            match found_albums.get(&id) {
                Some(album) => index.put_album(id, &album.title, album.artist_id),
                None => index.remove_album(id),
            }
        }
        let mut sounds = self.sounds.write().expect("not poisoned");
        for id in song_ids {
            match found_songs.remove(&id) {
                Some(song) => {
                    index.put_song(song.row());
                    sounds.put(song.sound());
                }
                None => {
                    index.remove_song(id);
                    sounds.remove(id);
                }
            }
        }
        Ok(())
    }

    /// The songs by sound, once built (see [`Self::wait_ready`]).
    pub(super) fn sounds(&self) -> std::sync::RwLockReadGuard<'_, Sounds> {
        self.sounds.read().expect("not poisoned")
    }

    pub(super) async fn wait_ready(&self) -> Result<()> {
        let mut ready = self.ready.subscribe();
        match tokio::time::timeout(READY_WAIT, ready.wait_for(|ready| *ready)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::Busy { message: "the search index is still being built".into(), retry_after_secs: 5 }),
        }
    }
}

/// What the index needs of a song.
#[derive(FromQueryResult)]
struct IndexedSong {
    id: Uuid,
    title: String,
    search_text: String,
    album_id: Uuid,
    artist_id: Uuid,
    play_count: i64,
    bpm: Option<f32>,
    musical_key: Option<i16>,
    sonic: Option<Vec<u8>>,
}

impl IndexedSong {
    fn row(&self) -> SongRow<'_> {
        SongRow {
            id: self.id,
            title: &self.title,
            search_text: &self.search_text,
            album_id: self.album_id,
            artist_id: self.artist_id,
            plays: self.play_count,
        }
    }

    fn sound(&self) -> SoundRow {
        SoundRow {
            id: self.id,
            album_id: self.album_id,
            bpm: self.bpm,
            key: self.musical_key,
            vector: self.sonic.as_deref().and_then(crate::sonic::Vector::from_bytes),
        }
    }
}

fn song_rows() -> sea_orm::Select<songs::Entity> {
    use songs::Column as S;
    songs::Entity::find().select_only().columns([
        S::Id,
        S::Title,
        S::SearchText,
        S::AlbumId,
        S::ArtistId,
        S::PlayCount,
        S::Bpm,
        S::MusicalKey,
        S::Sonic,
    ])
}

/// Songs, albums and artists matching `q`, at most `limit` of each, ranked by the index (see
/// [`Index::songs`]); the rows are read as `viewer` sees them.
pub async fn search(
    db: &DatabaseConnection,
    index: &SearchIndex,
    viewer: UserId,
    q: &str,
    limit: u64,
) -> Result<Results> {
    index.wait_ready().await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let (song_ids, album_ids, artist_ids) = {
        let index = index.index.read().expect("not poisoned");
        let query = index.query(q);
        if query.is_empty() {
            // Only punctuation or symbols: nothing can match.
            return Ok(Results::default());
        }
        (index.songs(&query, limit), index.albums(&query, limit), index.artists(&query, limit))
    };
    let songs = super::songs_by_id(viewer, &song_ids);
    let albums = super::browse::album_select()
        .and_where(Expr::col((T::Al, albums::Column::Id)).is_in(album_ids.clone()))
        .to_owned();
    let artists = super::browse::listed_artists(
        super::browse::artist_select()
            .and_where(Expr::col((T::Ar, artists::Column::Id)).is_in(artist_ids.clone()))
            .to_owned(),
    );
    // Independent reads on three pool connections; a kind with nothing found costs nothing.
    let (songs, albums, artists) = tokio::try_join!(
        read::<Song>(db, &songs, !song_ids.is_empty()),
        read::<Album>(db, &albums, !album_ids.is_empty()),
        read::<Artist>(db, &artists, !artist_ids.is_empty()),
    )?;
    Ok(Results {
        songs: in_order(songs, &song_ids, |s| s.id.into()),
        albums: in_order(albums, &album_ids, |a| a.id.into()),
        artists: in_order(artists, &artist_ids, |a| a.id.into()),
    })
}

/// `rows` in the order of `ids` (rows deleted since the index saw them are left out).
pub(super) fn in_order<R>(rows: Vec<R>, ids: &[Uuid], id: impl Fn(&R) -> Uuid) -> Vec<R> {
    let mut by_id: HashMap<Uuid, R> = rows.into_iter().map(|r| (id(&r), r)).collect();
    ids.iter().filter_map(|i| by_id.remove(i)).collect()
}

/// One read of a search's rows (by primary key: nothing to bound beyond the pool's own timeouts).
pub(super) async fn read<R: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &SelectStatement,
    needed: bool,
) -> Result<Vec<R>> {
    if !needed {
        return Ok(Vec::new());
    }
    Ok(all(db, query).await?)
}
