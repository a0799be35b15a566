//! Playlists: ordered entries (the same song may appear twice), privacy, caps, and M3U import.
//!
//! Every change to a playlist's entries runs in a transaction that first locks the playlist row, so
//! concurrent adds and moves are applied one after another and positions stay dense and unique.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, DeriveIden, EntityTrait, FromQueryResult,
    Set, Statement, TransactionTrait,
    sea_query::{
        Alias, Asterisk, Expr, Func, JoinType, LockType, Order, Query, SelectStatement, SimpleExpr, TableRef,
        WindowStatement,
    },
};
use uuid::Uuid;

use crate::{
    accounts::Role,
    catalog::{self, Song, T as C},
    cursor::{KeyType, Keyset, Page},
    entities::{albums, playlist_entries as entries, playlists, songs, users},
    error::{Error, Result},
    ids::{AlbumId, EntryId, PlaylistId, SongId, UserId},
    m3u,
    run::{all, execute, one},
};

/// The most entries one playlist holds. A playlist is read and rewritten whole by clients (the web player, M3U
/// export, OpenSubsonic's getPlaylist); at ~600 bytes of JSON per entry this keeps the largest answer near 6 MB.
/// Navidrome and Jellyfin set no cap; 10,000 songs is four weeks of continuous music, and the largest M3U import.
pub const MAX_ENTRIES: i64 = 10_000;
/// The most playlists one account owns: each is a row a client makes for free.
pub const MAX_PER_USER: i64 = 500;

/// A playlist with its owner's name, its size and length, and the album whose cover stands for it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Playlist {
    pub id: PlaylistId,
    pub owner_id: UserId,
    pub owner_name: String,
    pub name: String,
    pub description: Option<String>,
    pub public: bool,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub song_count: i64,
    pub duration_ms: i64,
    /// The album of the first entry whose album has a cover.
    pub cover_album: Option<AlbumId>,
}

/// One entry: its dense 0-based position and its song as the viewer sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: EntryId,
    pub position: i64,
    pub song: Song,
}

#[derive(DeriveIden, Clone, Copy)]
enum P {
    #[sea_orm(iden = "p")]
    Table,
    #[sea_orm(iden = "u")]
    Owner,
    #[sea_orm(iden = "c")]
    Counts,
    #[sea_orm(iden = "cv")]
    Cover,
    #[sea_orm(iden = "e")]
    Entries,
    SongCount,
    DurationMs,
    AlbumId,
    EntryId,
    EntryPosition,
    SongId,
    RowNumber,
}

/// The entries `e` of the outer query's playlist `p`, joined to their songs `s`.
fn entries_with_songs() -> SelectStatement {
    Query::select()
        .from_as(entries::Entity, P::Entries)
        .join_as(
            JoinType::InnerJoin,
            songs::Entity,
            C::S,
            Expr::col((C::S, songs::Column::Id)).equals((P::Entries, entries::Column::SongId)),
        )
        .and_where(Expr::col((P::Entries, entries::Column::PlaylistId)).equals((P::Table, playlists::Column::Id)))
        .to_owned()
}

/// [`Playlist`]'s columns over `playlists p` joined to its owner `u`, its counts `c` and its cover `cv`.
fn playlist_select() -> SelectStatement {
    let counts = entries_with_songs()
        .expr_as(Func::count(Expr::col(Asterisk)), P::SongCount)
        .expr_as(
            SimpleExpr::from(Func::coalesce([
                Func::sum(Expr::col((C::S, songs::Column::DurationMs))).into(),
                Expr::val(0).into(),
            ]))
            .cast_as(Alias::new("bigint")),
            P::DurationMs,
        )
        .to_owned();
    let cover = entries_with_songs()
        .expr_as(Expr::col((C::Al, albums::Column::Id)), P::AlbumId)
        .join_as(
            JoinType::InnerJoin,
            albums::Entity,
            C::Al,
            Expr::col((C::Al, albums::Column::Id)).equals((C::S, songs::Column::AlbumId)),
        )
        .and_where(Expr::col((C::Al, albums::Column::CoverPath)).is_not_null())
        .order_by((P::Entries, entries::Column::Position), Order::Asc)
        .limit(1)
        .to_owned();
    Query::select()
        .columns([
            (P::Table, playlists::Column::Id),
            (P::Table, playlists::Column::OwnerId),
            (P::Table, playlists::Column::Name),
            (P::Table, playlists::Column::Description),
            (P::Table, playlists::Column::Public),
            (P::Table, playlists::Column::CreatedAt),
            (P::Table, playlists::Column::UpdatedAt),
        ])
        .expr_as(Expr::col((P::Owner, users::Column::Username)), Alias::new("owner_name"))
        .column((P::Counts, P::SongCount))
        .column((P::Counts, P::DurationMs))
        .expr_as(Expr::col((P::Cover, P::AlbumId)), Alias::new("cover_album"))
        .from_as(playlists::Entity, P::Table)
        .join_as(
            JoinType::InnerJoin,
            users::Entity,
            P::Owner,
            Expr::col((P::Owner, users::Column::Id)).equals((P::Table, playlists::Column::OwnerId)),
        )
        .join_lateral(JoinType::InnerJoin, counts, P::Counts, Expr::cust("TRUE"))
        .join_lateral(JoinType::LeftJoin, cover, P::Cover, Expr::cust("TRUE"))
        .to_owned()
}

/// The playlist's entries numbered 1.. in position order (`row_number`), for the caller's columns.
fn numbered(playlist: PlaylistId) -> SelectStatement {
    Query::select()
        .expr_window_as(
            Func::cust(P::RowNumber),
            WindowStatement::new().order_by(entries::Column::Position, Order::Asc).to_owned(),
            P::RowNumber,
        )
        .from(entries::Entity)
        .and_where(Expr::col(entries::Column::PlaylistId).eq(playlist))
        .to_owned()
}

/// Owned by `viewer`, or public.
fn visible_to(viewer: UserId) -> SimpleExpr {
    // `OR p.public` as the bare column (not `= $n`), so the plan can use `playlists_public_idx` (its predicate).
    Expr::col((P::Table, playlists::Column::OwnerId))
        .eq(viewer)
        .or(Expr::col((P::Table, playlists::Column::Public)).into())
}

/// The user's own playlists and everyone's public ones, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: UserId,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<Playlist>> {
    let keyset = Keyset::new("playlists", cursor, limit, KeyType::Timestamp)?;
    let mut query = playlist_select().and_where(visible_to(viewer)).to_owned();
    keyset.apply(
        &mut query,
        Expr::col((P::Table, playlists::Column::CreatedAt)).into(),
        KeyType::Timestamp,
        Expr::col((P::Table, playlists::Column::Id)).into(),
        Order::Desc,
    );
    Ok(keyset.fetch_as(db, &query).await?)
}

/// A playlist as `viewer` may see it: their own, or anyone's public one. Otherwise `None`, so a private
/// playlist's existence never leaks.
pub async fn visible(db: &impl ConnectionTrait, viewer: UserId, id: PlaylistId) -> Result<Option<Playlist>, DbErr> {
    let query = playlist_select()
        .and_where(Expr::col((P::Table, playlists::Column::Id)).eq(id))
        .and_where(visible_to(viewer))
        .to_owned();
    one(db, &query).await
}

/// [`visible`], or [`Error::NotFound`].
pub async fn get(db: &impl ConnectionTrait, viewer: UserId, id: PlaylistId) -> Result<Playlist> {
    visible(db, viewer, id).await?.ok_or(Error::NotFound)
}

/// The playlist for a change by `user`: not found when they cannot see it, forbidden when they can but do not
/// own it.
async fn owned(db: &impl ConnectionTrait, user: UserId, id: PlaylistId) -> Result<Playlist> {
    let playlist = get(db, user, id).await?;
    if playlist.owner_id != user {
        return Err(Error::Forbidden("only the owner changes a playlist".into()));
    }
    Ok(playlist)
}

/// The entries in order with their songs as `viewer` sees them, from `playlist` (checked visible), a page at a
/// time. Positions are counted over the whole playlist (at most [`MAX_ENTRIES`] rows), songs read for the page
/// only.
pub async fn entries(
    db: &impl ConnectionTrait,
    viewer: UserId,
    playlist: PlaylistId,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<Entry>> {
    let keyset = Keyset::new("entries", cursor, limit, KeyType::BigInt)?;
    let numbered = numbered(playlist)
        .expr_as(Expr::col(entries::Column::Id), P::EntryId)
        .column(entries::Column::SongId)
        .to_owned();
    let position: SimpleExpr = Expr::col((P::Entries, P::RowNumber)).sub(1);
    let mut query = catalog::song_select(viewer)
        .expr_as(Expr::col((P::Entries, P::EntryId)), P::EntryId)
        .expr_as(position.clone(), P::EntryPosition)
        .join_subquery(
            JoinType::InnerJoin,
            numbered,
            P::Entries,
            Expr::col((P::Entries, P::SongId)).equals((C::S, songs::Column::Id)),
        )
        .to_owned();
    keyset.apply(&mut query, position, KeyType::BigInt, Expr::col((P::Entries, P::EntryId)).into(), Order::Asc);
    let page = keyset
        .fetch(db, &query, |row| {
            Ok(Entry {
                id: row.try_get("", "entry_id")?,
                position: row.try_get("", "entry_position")?,
                song: Song::from_query_result(row, "")?,
            })
        })
        .await?;
    Ok(page)
}

/// A playlist `viewer` may see with all its entries (for export).
pub async fn whole(db: &impl ConnectionTrait, viewer: UserId, id: PlaylistId) -> Result<(Playlist, Vec<Entry>)> {
    let playlist = get(db, viewer, id).await?;
    let entries = entries(db, viewer, id, None, MAX_ENTRIES as u64).await?.items;
    Ok((playlist, entries))
}

/// What a new playlist is called and who sees it.
#[derive(Debug, Clone)]
pub struct NewPlaylist {
    pub name: String,
    pub description: Option<String>,
    pub public: bool,
}

/// Creates a playlist owned by `owner`; refused once they own [`MAX_PER_USER`].
pub async fn create(db: &impl ConnectionTrait, owner: UserId, new: NewPlaylist) -> Result<PlaylistId> {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let owned = playlists::Entity::find().filter(playlists::Column::OwnerId.eq(owner.0)).count(db).await?;
    if owned as i64 >= MAX_PER_USER {
        return Err(Error::Refused(format!(
            "you have {MAX_PER_USER} playlists, the most an account may have; delete one first"
        )));
    }
    let now = Utc::now().fixed_offset();
    let row = playlists::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(owner.0),
        name: Set(new.name.trim().to_owned()),
        description: Set(new.description),
        public: Set(new.public),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(PlaylistId(row.insert(db).await?.id))
}

/// A change to a playlist's name, description or visibility; `None` leaves a field, `Some(None)` clears the
/// description.
#[derive(Debug, Clone, Default)]
pub struct PlaylistChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub public: Option<bool>,
}

/// Changes a playlist of `user`'s.
pub async fn update(db: &impl ConnectionTrait, user: UserId, id: PlaylistId, change: PlaylistChange) -> Result<()> {
    owned(db, user, id).await?;
    let mut row = playlists::ActiveModel { id: sea_orm::Unchanged(id.0), ..Default::default() };
    if let Some(name) = change.name {
        row.name = Set(name.trim().to_owned());
    }
    if let Some(description) = change.description {
        row.description = Set(description);
    }
    if let Some(public) = change.public {
        row.public = Set(public);
    }
    row.updated_at = Set(Utc::now().fixed_offset());
    row.update(db).await?;
    Ok(())
}

/// Deleted by its owner, or by an admin when public.
pub async fn delete(db: &impl ConnectionTrait, user: UserId, role: Role, id: PlaylistId) -> Result<()> {
    let playlist = get(db, user, id).await?;
    if playlist.owner_id != user && role != Role::Admin {
        return Err(Error::Forbidden("only the owner or an admin deletes a playlist".into()));
    }
    playlists::Entity::delete_by_id(id.0).exec(db).await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// Opens a transaction holding the playlist row's lock, with positions made dense (0..n) first: deleting a
/// song removes its entries and leaves gaps that positions given by clients must not depend on. Returns the
/// entry count.
async fn lock_entries(db: &impl TransactionTrait, playlist: PlaylistId) -> Result<(DatabaseTransaction, i64)> {
    let txn = db.begin().await?;
    let lock = Query::select()
        .column(playlists::Column::Id)
        .from(playlists::Entity)
        .and_where(Expr::col(playlists::Column::Id).eq(playlist))
        .lock(LockType::Update)
        .to_owned();
    txn.query_one(crate::run::statement(&lock)).await?.ok_or(Error::NotFound)?;
    // Positions are unique per playlist; renumbering swaps them, so the check waits for the commit.
    txn.execute_unprepared("SET CONSTRAINTS playlist_entries_position_key DEFERRED").await?;
    let count = renumber(&txn, playlist).await?;
    Ok((txn, count))
}

/// Makes the playlist's positions dense again (0, 1, 2… in their order); the number of entries.
async fn renumber(txn: &DatabaseTransaction, playlist: PlaylistId) -> Result<i64> {
    let ranked = Alias::new("r");
    let numbered = numbered(playlist).column(entries::Column::Id).to_owned();
    let dense: SimpleExpr = Expr::col((ranked.clone(), P::RowNumber)).sub(1);
    let renumber = Query::update()
        .table(entries::Entity)
        .value(entries::Column::Position, dense.clone())
        .from(TableRef::SubQuery(numbered, sea_orm::sea_query::IntoIden::into_iden(ranked.clone())))
        .and_where(Expr::col((entries::Entity, entries::Column::Id)).equals((ranked, entries::Column::Id)))
        .and_where(Expr::col((entries::Entity, entries::Column::Position)).ne(dense))
        .to_owned();
    execute(txn, &renumber).await?;
    let count = Query::select()
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(entries::Entity)
        .and_where(Expr::col(entries::Column::PlaylistId).eq(playlist))
        .to_owned();
    Ok(one::<Count>(txn, &count).await?.map_or(0, |c| c.n))
}

/// A change to the entries of a playlist of `user`'s: checks they own it, then [`lock_entries`].
async fn change(
    db: &(impl ConnectionTrait + TransactionTrait),
    user: UserId,
    playlist: PlaylistId,
) -> Result<(DatabaseTransaction, i64)> {
    owned(db, user, playlist).await?;
    lock_entries(db, playlist).await
}

/// Ends a [`change`]: marks the playlist changed now and commits.
async fn commit_change(txn: DatabaseTransaction, playlist: PlaylistId) -> Result<()> {
    let update = Query::update()
        .table(playlists::Entity)
        .value(playlists::Column::UpdatedAt, Expr::current_timestamp())
        .and_where(Expr::col(playlists::Column::Id).eq(playlist))
        .to_owned();
    execute(&txn, &update).await?;
    Ok(txn.commit().await?)
}

/// Song ids among `ids` that do not exist.
async fn missing_songs(db: &impl ConnectionTrait, ids: &[SongId]) -> Result<Vec<SongId>, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: SongId,
    }
    let query = Query::select()
        .column(songs::Column::Id)
        .from(songs::Entity)
        .and_where(Expr::col(songs::Column::Id).is_in(ids.iter().copied()))
        .to_owned();
    let found: std::collections::HashSet<SongId> = all::<Id>(db, &query).await?.into_iter().map(|r| r.id).collect();
    let mut missing: Vec<SongId> = ids.iter().copied().filter(|id| !found.contains(id)).collect();
    missing.dedup();
    Ok(missing)
}

/// Inserts songs at `position` (dense positions assumed, see [`lock_entries`]), shifting later entries.
async fn insert_entries(
    txn: &DatabaseTransaction,
    playlist: PlaylistId,
    position: i64,
    songs: &[SongId],
) -> Result<(), DbErr> {
    use entries::Column as E;
    let shift = Query::update()
        .table(entries::Entity)
        .value(E::Position, Expr::col(E::Position).add(songs.len() as i64))
        .and_where(Expr::col(E::PlaylistId).eq(playlist))
        .and_where(Expr::col(E::Position).gte(position))
        .to_owned();
    execute(txn, &shift).await?;
    for (chunk_index, chunk) in songs.chunks(500).enumerate() {
        let mut insert = Query::insert();
        insert.into_table(entries::Entity).columns([E::Id, E::PlaylistId, E::SongId, E::Position]);
        for (i, song) in chunk.iter().enumerate() {
            let at = position + (chunk_index * 500 + i) as i64;
            insert.values_panic([Uuid::now_v7().into(), playlist.into(), (*song).into(), at.into()]);
        }
        execute(txn, &insert).await?;
    }
    Ok(())
}

/// Adds songs to a playlist of `user`'s at `position` (none: at the end).
pub async fn add(
    db: &(impl ConnectionTrait + TransactionTrait),
    user: UserId,
    id: PlaylistId,
    songs: &[SongId],
    position: Option<u32>,
) -> Result<()> {
    let missing = missing_songs(db, songs).await?;
    if !missing.is_empty() {
        let list = missing.iter().map(SongId::to_string).collect::<Vec<_>>().join(", ");
        return Err(Error::invalid("song_ids", format!("no such songs: {list}")));
    }
    let (txn, count) = change(db, user, id).await?;
    if count + songs.len() as i64 > MAX_ENTRIES {
        return Err(Error::invalid(
            "song_ids",
            format!("a playlist holds at most {MAX_ENTRIES} songs; this one has {count}"),
        ));
    }
    if position.is_some_and(|p| i64::from(p) > count) {
        return Err(Error::invalid("position", format!("must be between 0 and {count}")));
    }
    let position = position.map_or(count, i64::from);
    insert_entries(&txn, id, position, songs).await?;
    commit_change(txn, id).await
}

/// The position of an entry of this playlist (after [`lock_entries`]).
async fn entry_position(txn: &DatabaseTransaction, playlist: PlaylistId, entry: EntryId) -> Result<i64> {
    let query = Query::select()
        .expr_as(Expr::col(entries::Column::Position).cast_as(Alias::new("bigint")), Alias::new("n"))
        .from(entries::Entity)
        .and_where(Expr::col(entries::Column::PlaylistId).eq(playlist))
        .and_where(Expr::col(entries::Column::Id).eq(entry))
        .to_owned();
    Ok(one::<Count>(txn, &query).await?.ok_or(Error::NotFound)?.n)
}

/// Removes one entry from a playlist of `user`'s; later entries move up.
pub async fn remove(
    db: &(impl ConnectionTrait + TransactionTrait),
    user: UserId,
    id: PlaylistId,
    entry: EntryId,
) -> Result<()> {
    use entries::Column as E;
    let (txn, _) = change(db, user, id).await?;
    let position = entry_position(&txn, id, entry).await?;
    let delete = Query::delete().from_table(entries::Entity).and_where(Expr::col(E::Id).eq(entry)).to_owned();
    execute(&txn, &delete).await?;
    let close = Query::update()
        .table(entries::Entity)
        .value(E::Position, Expr::col(E::Position).sub(1))
        .and_where(Expr::col(E::PlaylistId).eq(id))
        .and_where(Expr::col(E::Position).gt(position))
        .to_owned();
    execute(&txn, &close).await?;
    commit_change(txn, id).await
}

/// Moves one entry of a playlist of `user`'s to `position`; the entries between shift by one.
pub async fn move_entry(
    db: &(impl ConnectionTrait + TransactionTrait),
    user: UserId,
    id: PlaylistId,
    entry: EntryId,
    position: u32,
) -> Result<()> {
    use entries::Column as E;
    let (txn, count) = change(db, user, id).await?;
    let from = entry_position(&txn, id, entry).await?;
    let to = i64::from(position);
    if to >= count {
        return Err(Error::invalid("position", format!("must be between 0 and {}", count - 1)));
    }
    if from != to {
        let (shift, low, high) = if to < from { (1, to, from - 1) } else { (-1, from + 1, to) };
        let between = Query::update()
            .table(entries::Entity)
            .value(E::Position, Expr::col(E::Position).add(shift))
            .and_where(Expr::col(E::PlaylistId).eq(id))
            .and_where(Expr::col(E::Position).between(low, high))
            .to_owned();
        execute(&txn, &between).await?;
        let moved = Query::update()
            .table(entries::Entity)
            .value(E::Position, to)
            .and_where(Expr::col(E::Id).eq(entry))
            .to_owned();
        execute(&txn, &moved).await?;
    }
    commit_change(txn, id).await
}

/// A playlist made from an M3U file, and the lines that named no song in the library.
/// Which entries [`edit_entries`] removes.
#[derive(Debug, Clone, Copy)]
pub enum Removal<'a> {
    /// The entries at these 0-based positions (as they are before the edit).
    Positions(&'a [i64]),
    /// Every entry (the playlist's songs are being replaced).
    All,
}

/// Removes entries and appends songs in one change (the Subsonic API's way of editing a playlist). Positions
/// out of range or songs that do not exist refuse the whole edit; the song cap holds after it.
pub async fn edit_entries(
    db: &(impl ConnectionTrait + TransactionTrait),
    user: UserId,
    id: PlaylistId,
    remove: Removal<'_>,
    append: &[SongId],
) -> Result<()> {
    use entries::Column as E;
    let missing = missing_songs(db, append).await?;
    if !missing.is_empty() {
        let list = missing.iter().map(SongId::to_string).collect::<Vec<_>>().join(", ");
        return Err(Error::invalid("songIdToAdd", format!("no such songs: {list}")));
    }
    let (txn, count) = change(db, user, id).await?;
    let delete = Query::delete().from_table(entries::Entity).and_where(Expr::col(E::PlaylistId).eq(id)).to_owned();
    let remaining = match remove {
        Removal::All => {
            execute(&txn, &delete).await?;
            0
        }
        Removal::Positions([]) => count,
        Removal::Positions(positions) => {
            if let Some(bad) = positions.iter().find(|p| !(0..count).contains(*p)) {
                return Err(Error::invalid("songIndexToRemove", format!("{bad} is not between 0 and {}", count - 1)));
            }
            let delete =
                delete.to_owned().and_where(Expr::col(E::Position).is_in(positions.iter().copied())).to_owned();
            execute(&txn, &delete).await?;
            renumber(&txn, id).await?
        }
    };
    if remaining + append.len() as i64 > MAX_ENTRIES {
        return Err(Error::invalid(
            "songIdToAdd",
            format!(
                "a playlist holds at most {MAX_ENTRIES} songs; this one would have {}",
                remaining + append.len() as i64
            ),
        ));
    }
    insert_entries(&txn, id, remaining, append).await?;
    commit_change(txn, id).await
}

#[derive(Debug)]
pub struct Imported {
    pub id: PlaylistId,
    pub unmatched: Vec<String>,
}

/// Creates a playlist of `owner`'s from M3U/M3U8 text: named `name`, else by the file's `#PLAYLIST:` line,
/// else "Imported playlist".
pub async fn import(
    db: &(impl ConnectionTrait + TransactionTrait),
    owner: UserId,
    text: &str,
    name: Option<String>,
) -> Result<Imported> {
    if text.contains('\0') {
        return Err(Error::Refused("the playlist is not text".into()));
    }
    let parsed = m3u::parse(text);
    if parsed.too_long {
        return Err(Error::Refused(format!(
            "a line of the playlist is longer than {} characters; no file path is that long",
            m3u::MAX_LINE
        )));
    }
    if parsed.items.is_empty() {
        return Err(Error::Refused("the playlist names no songs".into()));
    }
    if parsed.items.len() as i64 > MAX_ENTRIES {
        return Err(Error::Refused(format!(
            "the playlist names {} songs; a playlist holds at most {MAX_ENTRIES}",
            parsed.items.len()
        )));
    }
    let matched = match_items(db, &parsed.items).await?;
    let mut songs = Vec::new();
    let mut unmatched = Vec::new();
    for (item, found) in parsed.items.iter().zip(matched) {
        match found {
            Some(id) => songs.push(id),
            None => unmatched.push(item.location.clone()),
        }
    }
    let name = name.or(parsed.name).unwrap_or_else(|| "Imported playlist".to_owned());
    let id = create(db, owner, NewPlaylist { name, description: None, public: false }).await?;
    if !songs.is_empty() {
        let (txn, _) = lock_entries(db, id).await?;
        insert_entries(&txn, id, 0, &songs).await?;
        txn.commit().await?;
    }
    Ok(Imported { id, unmatched })
}

/// The song each M3U line names, in one query for the whole file: a Fermata stream URL (by id), a library
/// path (exact, or the line ending in the stored path: `/music/Artist/song.mp3` for `Artist/song.mp3`, the
/// longest stored path first), or "Artist - Title" from the EXTINF hint or the file name. Every lookup is an
/// index probe per line (the id, `songs_library_path_key` on each suffix of the line that starts after a `/`,
/// the folded title index), so a 5,000-line file costs milliseconds, not a LIKE scan per line.
///
/// Raw SQL: the lines go in as parallel arrays unnested `WITH ORDINALITY` and matched with `DISTINCT ON`,
/// which sea-query cannot say. The statement is whole here, its five values bound in order.
const MATCH_ITEMS: &str = "\
WITH line AS (SELECT (n - 1)::int AS n, id, artist, title FROM unnest($1::uuid[], $2::text[], $3::text[]) \
               WITH ORDINALITY AS l(id, artist, title, n)), \
     by_id AS (SELECT l.n, s.id FROM line l JOIN songs s ON s.id = l.id), \
     by_path AS (SELECT DISTINCT ON (x.n) x.n, s.id FROM unnest($4::int[], $5::text[]) AS x(n, path) \
                 JOIN songs s ON s.storage = 'library' AND s.path = x.path \
                 ORDER BY x.n, length(s.path) DESC), \
     by_name AS (SELECT DISTINCT ON (l.n) l.n, s.id FROM line l \
                 JOIN songs s ON s.title_folded = fermata_fold(l.title) \
                 JOIN artists ar ON ar.id = s.artist_id AND ar.name_folded = fermata_fold(l.artist) \
                 WHERE l.title <> '' ORDER BY l.n, s.added_at, s.id) \
SELECT l.n, coalesce(i.id, p.id, m.id) AS id FROM line l \
  LEFT JOIN by_id i ON i.n = l.n LEFT JOIN by_path p ON p.n = l.n LEFT JOIN by_name m ON m.n = l.n \
WHERE coalesce(i.id, p.id, m.id) IS NOT NULL";

async fn match_items(db: &impl ConnectionTrait, items: &[m3u::Item]) -> Result<Vec<Option<SongId>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Match {
        n: i32,
        id: SongId,
    }
    let mut ids = Vec::with_capacity(items.len());
    let mut suffixes: Vec<Vec<String>> = Vec::with_capacity(items.len());
    let mut artists = Vec::with_capacity(items.len());
    let mut titles = Vec::with_capacity(items.len());
    for item in items {
        // Arrays of PostgreSQL parameters hold no NULLs here: the nil id and empty strings stand for "none".
        ids.push(m3u::song_id_in(&item.location).unwrap_or(Uuid::nil()));
        suffixes.push(m3u::path_suffixes(&item.location));
        let (artist, title) = m3u::artist_and_title(item).unwrap_or_default();
        artists.push(artist);
        titles.push(title);
    }
    // One row per (line, candidate path); arrays of arrays must be rectangular in PostgreSQL, so flatten.
    let (suffix_lines, suffix_paths): (Vec<i32>, Vec<String>) =
        suffixes.into_iter().enumerate().flat_map(|(n, paths)| paths.into_iter().map(move |p| (n as i32, p))).unzip();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        MATCH_ITEMS,
        [ids.into(), artists.into(), titles.into(), suffix_lines.into(), suffix_paths.into()],
    );
    let mut found = vec![None; items.len()];
    for row in Match::find_by_statement(statement).all(db).await? {
        if let Some(slot) = found.get_mut(row.n as usize) {
            *slot = Some(row.id);
        }
    }
    Ok(found)
}
