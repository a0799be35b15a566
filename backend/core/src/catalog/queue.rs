//! The saved play queue (a Subsonic client saves it so another device can resume) and what listeners are
//! playing now.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DbErr, FromQueryResult, TransactionTrait,
    sea_query::{Alias, Expr, JoinType, OnConflict, Order, Query},
};

use super::{Song, songs::by_ids};
use crate::{
    entities::{now_playing, play_queue_entries as entries, play_queues, songs, users},
    error::{Error, Result},
    ids::{SongId, UserId},
    run::{all, execute, one},
};

/// The longest saved queue (the playlist cap: a queue is a playlist nobody named).
pub const MAX_ENTRIES: usize = crate::playlists::MAX_ENTRIES as usize;

/// A saved play queue, its songs as the viewer sees them (deleted songs have left it).
#[derive(Debug, Clone)]
pub struct PlayQueue {
    pub current: Option<SongId>,
    pub position_ms: i64,
    pub changed_at: DateTime<FixedOffset>,
    /// The client that saved it.
    pub changed_by: String,
    pub songs: Vec<Song>,
}

/// Replaces `user`'s saved queue. Every song must exist; `current` must be one of them.
pub async fn save(
    db: &impl TransactionTrait,
    user: UserId,
    songs: &[SongId],
    current: Option<SongId>,
    position_ms: i64,
    changed_by: &str,
) -> Result<()> {
    if songs.len() > MAX_ENTRIES {
        return Err(Error::invalid("id", format!("a play queue holds at most {MAX_ENTRIES} songs")));
    }
    if current.is_some_and(|c| !songs.contains(&c)) {
        return Err(Error::invalid("current", "must be one of the queue's songs"));
    }
    let txn = db.begin().await?;
    let mut distinct = songs.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let found = Query::select()
        .expr_as(Expr::cust("count(*)"), Alias::new("n"))
        .from(songs::Entity)
        .and_where(Expr::col(songs::Column::Id).is_in(distinct.iter().copied()))
        .to_owned();
    if !distinct.is_empty() && one::<Count>(&txn, &found).await?.map_or(0, |c| c.n) != distinct.len() as i64 {
        return Err(Error::NotFound);
    }
    use play_queues::Column as Q;
    let upsert = Query::insert()
        .into_table(play_queues::Entity)
        .columns([Q::UserId, Q::CurrentSongId, Q::PositionMs, Q::ChangedBy])
        .values_panic([user.into(), current.map(|c| c.0).into(), position_ms.max(0).into(), changed_by.into()])
        .on_conflict(
            OnConflict::column(Q::UserId)
                .update_columns([Q::CurrentSongId, Q::PositionMs, Q::ChangedBy])
                .value(Q::ChangedAt, Expr::current_timestamp())
                .to_owned(),
        )
        .to_owned();
    execute(&txn, &upsert).await?;
    let clear =
        Query::delete().from_table(entries::Entity).and_where(Expr::col(entries::Column::UserId).eq(user)).to_owned();
    execute(&txn, &clear).await?;
    for (chunk_index, chunk) in songs.chunks(1000).enumerate() {
        let mut insert = Query::insert();
        insert.into_table(entries::Entity).columns([
            entries::Column::UserId,
            entries::Column::Position,
            entries::Column::SongId,
        ]);
        for (i, song) in chunk.iter().enumerate() {
            insert.values_panic([user.into(), ((chunk_index * 1000 + i) as i32).into(), (*song).into()]);
        }
        execute(&txn, &insert).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// `user`'s saved queue, if they saved one.
pub async fn get(db: &impl ConnectionTrait, user: UserId) -> Result<Option<PlayQueue>> {
    let Some(queue) = play_queues::Entity::find_by_id(user.0).one(db).await? else {
        return Ok(None);
    };
    #[derive(FromQueryResult)]
    struct Id {
        song_id: SongId,
    }
    let ids = Query::select()
        .column(entries::Column::SongId)
        .from(entries::Entity)
        .and_where(Expr::col(entries::Column::UserId).eq(user))
        .order_by(entries::Column::Position, Order::Asc)
        .to_owned();
    let ids: Vec<SongId> = all::<Id>(db, &ids).await?.into_iter().map(|r| r.song_id).collect();
    let songs = by_ids(db, user, &ids).await?;
    Ok(Some(PlayQueue {
        current: queue.current_song_id.map(SongId),
        position_ms: queue.position_ms,
        changed_at: queue.changed_at,
        changed_by: queue.changed_by,
        songs,
    }))
}

use sea_orm::EntityTrait;

/// Records that `user` started `song` on `player` (replacing what they were playing). False when the song does
/// not exist.
pub async fn playing(db: &impl ConnectionTrait, user: UserId, song: SongId, player: &str) -> Result<bool, DbErr> {
    use now_playing::Column as N;
    let exists = Query::select()
        .expr(Expr::val(user))
        .column(songs::Column::Id)
        .expr(Expr::val(player))
        .from(songs::Entity)
        .and_where(Expr::col(songs::Column::Id).eq(song))
        .to_owned();
    let upsert = Query::insert()
        .into_table(now_playing::Entity)
        .columns([N::UserId, N::SongId, N::Player])
        .select_from(exists)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::column(N::UserId)
                .update_columns([N::SongId, N::Player])
                .value(N::StartedAt, Expr::current_timestamp())
                .to_owned(),
        )
        .to_owned();
    Ok(execute(db, &upsert).await? > 0)
}

/// One listener's current song.
#[derive(Debug, Clone)]
pub struct NowPlaying {
    pub username: String,
    pub player: String,
    pub started_at: DateTime<FixedOffset>,
    pub song: Song,
}

/// What everyone is playing now, as `viewer` sees the songs: reports younger than their song's length plus
/// five minutes (a player that stopped reporting has stopped), newest first.
/// What is playing: the viewer's own players, or with `everyone` every listener's (a server setting, off by
/// default: what a person listens to is theirs to share).
pub async fn now_playing(db: &impl ConnectionTrait, viewer: UserId, everyone: bool) -> Result<Vec<NowPlaying>, DbErr> {
    use now_playing::Column as N;
    let n = Alias::new("n");
    let u = Alias::new("u");
    let query = super::song_select(viewer)
        .expr_as(Expr::col((u.clone(), users::Column::Username)), Alias::new("np_username"))
        .expr_as(Expr::col((n.clone(), N::Player)), Alias::new("np_player"))
        .expr_as(Expr::col((n.clone(), N::StartedAt)), Alias::new("np_started_at"))
        .join_as(
            JoinType::InnerJoin,
            now_playing::Entity,
            n.clone(),
            Expr::col((n.clone(), N::SongId)).equals((super::T::S, songs::Column::Id)),
        )
        .join_as(
            JoinType::InnerJoin,
            users::Entity,
            u.clone(),
            Expr::col((u, users::Column::Id)).equals((n.clone(), N::UserId)),
        )
        .and_where(Expr::col((n.clone(), N::StartedAt)).gt(Expr::cust_with_exprs(
            "now() - make_interval(secs => $1 / 1000.0 + 300)",
            [Expr::col((super::T::S, songs::Column::DurationMs)).into()],
        )))
        .and_where_option((!everyone).then(|| Expr::col((n.clone(), N::UserId)).eq(viewer.0)))
        .order_by((n, N::StartedAt), Order::Desc)
        .limit(100)
        .to_owned();
    let rows = db.query_all(crate::run::statement(&query)).await?;
    rows.iter()
        .map(|row| {
            Ok(NowPlaying {
                username: row.try_get("", "np_username")?,
                player: row.try_get("", "np_player")?,
                started_at: row.try_get("", "np_started_at")?,
                song: Song::from_query_result(row, "")?,
            })
        })
        .collect()
}
