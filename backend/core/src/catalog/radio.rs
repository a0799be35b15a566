//! Song radio: from a seed (a song, an album, an artist or a playlist), a queue that keeps extending with the
//! songs that sound closest to a target point, which starts at the seed and follows the listener: a song played
//! through pulls it closer, a skipped one pushes it away, and every step pulls it back part of the way to the
//! seed so the radio drifts but does not wander off. A session never hands out a song twice and keeps the
//! listener's tempo range and key.
//!
//! Sessions live in PostgreSQL (`radio_sessions`), so the next batch can come from any replica; a listener keeps
//! at most [`MAX_SESSIONS_PER_USER`] (starting another ends the least recently used), and a session hands out at
//! most [`MAX_SERVED`] songs.

use std::collections::HashSet;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{
    Song,
    search::SearchIndex,
    similar::{Seed, origin, songs_in_order},
    sound::Filter,
};
use crate::{
    entities::radio_sessions,
    error::{Error, Result},
    ids::{SongId, UserId},
    sonic::{Key, Vector},
};

/// Sessions one listener keeps.
pub const MAX_SESSIONS_PER_USER: u64 = 10;
/// Songs one session hands out in all.
pub const MAX_SERVED: usize = 2_000;
/// Songs one call hands out.
pub const MAX_BATCH: u64 = 50;
/// Songs one call may report as played or skipped.
pub const MAX_FEEDBACK: usize = 100;

/// How far a song played through pulls the target towards it, a skipped one pushes it away, and the seed pulls
/// it back, per step.
const PLAYED_PULL: f32 = 0.2;
const SKIPPED_PUSH: f32 = -0.15;
const SEED_PULL: f32 = 0.25;

/// What a radio keeps to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub bpm_min: Option<f32>,
    pub bpm_max: Option<f32>,
    pub key: Option<Key>,
}

/// What the listener did with the songs handed out so far.
#[derive(Debug, Clone, Default)]
pub struct Feedback {
    pub played: Vec<SongId>,
    pub skipped: Vec<SongId>,
}

pub struct Radio {
    pub id: Uuid,
    pub seed: Seed,
    pub limits: Limits,
    pub songs: Vec<Song>,
}

fn vector(bytes: &[u8]) -> Result<Vector> {
    Vector::from_bytes(bytes)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored radio vector has the wrong size")))
}

fn check(limits: &Limits, batch: u64) -> Result<()> {
    if let (Some(min), Some(max)) = (limits.bpm_min, limits.bpm_max)
        && min > max
    {
        return Err(Error::Invalid { field: "bpm_min", message: "must not be above bpm_max".into() });
    }
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(Error::Invalid { field: "limit", message: format!("must be between 1 and {MAX_BATCH}") });
    }
    Ok(())
}

/// The next `limit` songs around `target`, none of `served`.
fn pick(index: &SearchIndex, target: &Vector, limits: &Limits, served: HashSet<Uuid>, limit: u64) -> Vec<Uuid> {
    let room = MAX_SERVED.saturating_sub(served.len());
    let limit = usize::try_from(limit).unwrap_or(0).min(room);
    let filter = Filter {
        exclude: served,
        bpm_min: limits.bpm_min,
        bpm_max: limits.bpm_max,
        key: limits.key.map(Key::code),
        other_than_album: None,
    };
    index.sounds().nearest(target, limit, &filter).into_iter().map(|(id, _)| id).collect()
}

/// Starts a radio from `seed` and hands out its first `limit` songs (a seed song itself is not among them: the
/// listener is hearing it).
pub async fn start(
    db: &(impl ConnectionTrait + TransactionTrait),
    index: &SearchIndex,
    viewer: UserId,
    seed: Seed,
    limits: Limits,
    limit: u64,
) -> Result<Radio> {
    check(&limits, limit)?;
    let origin = origin(db, index, viewer, seed).await?;
    let mut served: Vec<Uuid> = match seed {
        Seed::Song(id) => vec![id.0],
        _ => Vec::new(),
    };
    let picked = pick(index, &origin.vector, &limits, served.iter().copied().collect(), limit);
    served.extend(&picked);
    let id = Uuid::now_v7();
    let txn = db.begin().await?;
    // Keep the newest sessions only, this one included.
    let kept: Vec<Uuid> = radio_sessions::Entity::find()
        .filter(radio_sessions::Column::UserId.eq(viewer.0))
        .order_by_desc(radio_sessions::Column::UpdatedAt)
        .order_by_desc(radio_sessions::Column::Id)
        .select_only()
        .column(radio_sessions::Column::Id)
        .limit(MAX_SESSIONS_PER_USER - 1)
        .into_tuple()
        .all(&txn)
        .await?;
    radio_sessions::Entity::delete_many()
        .filter(radio_sessions::Column::UserId.eq(viewer.0))
        .filter(radio_sessions::Column::Id.is_not_in(kept))
        .exec(&txn)
        .await?;
    let now = chrono::Utc::now().fixed_offset();
    radio_sessions::Entity::insert(radio_sessions::ActiveModel {
        id: Set(id),
        user_id: Set(viewer.0),
        seed: Set(serde_json::to_value(seed).map_err(anyhow::Error::from)?),
        origin: Set(origin.vector.to_bytes()),
        target: Set(origin.vector.to_bytes()),
        bpm_min: Set(limits.bpm_min),
        bpm_max: Set(limits.bpm_max),
        musical_key: Set(limits.key.map(Key::code)),
        served: Set(served),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    let songs = songs_in_order(db, viewer, &picked).await?;
    Ok(Radio { id, seed, limits, songs })
}

/// The next `limit` songs of `viewer`'s radio `id`, after moving its target by `feedback`. Empty once the
/// session handed out [`MAX_SERVED`] songs or nothing that fits is left.
pub async fn next(
    db: &(impl ConnectionTrait + TransactionTrait),
    index: &SearchIndex,
    viewer: UserId,
    id: Uuid,
    feedback: Feedback,
    limit: u64,
) -> Result<Radio> {
    if feedback.played.len() > MAX_FEEDBACK || feedback.skipped.len() > MAX_FEEDBACK {
        return Err(Error::Invalid { field: "played", message: format!("at most {MAX_FEEDBACK} songs per call") });
    }
    index.wait_ready().await?;
    let txn = db.begin().await?;
    // Locked: two calls racing on one session must not hand out the same songs.
    let session = radio_sessions::Entity::find_by_id(id)
        .filter(radio_sessions::Column::UserId.eq(viewer.0))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(Error::NotFound)?;
    let limits = Limits {
        bpm_min: session.bpm_min,
        bpm_max: session.bpm_max,
        key: session.musical_key.and_then(Key::from_code),
    };
    check(&limits, limit)?;
    let origin = vector(&session.origin)?;
    let mut target = vector(&session.target)?;
    let served: HashSet<Uuid> = session.served.iter().copied().collect();
    {
        let sounds = index.sounds();
        // Only songs this radio handed out move it (a deleted song has no vector any more and moves nothing).
        let heard = |ids: &[SongId]| -> Vec<Vector> {
            ids.iter().filter(|s| served.contains(&s.0)).filter_map(|s| sounds.vector(s.0)).collect()
        };
        for v in heard(&feedback.played) {
            target = target.towards(&v, PLAYED_PULL);
        }
        for v in heard(&feedback.skipped) {
            target = target.towards(&v, SKIPPED_PUSH);
        }
    }
    target = target.towards(&origin, SEED_PULL);
    let picked = pick(index, &target, &limits, served, limit);
    let mut all_served = session.served;
    all_served.extend(&picked);
    radio_sessions::Entity::update_many()
        .filter(radio_sessions::Column::Id.eq(id))
        .col_expr(radio_sessions::Column::Target, sea_orm::sea_query::Expr::value(target.to_bytes()))
        .col_expr(radio_sessions::Column::Served, sea_orm::sea_query::Expr::value(all_served))
        .col_expr(radio_sessions::Column::UpdatedAt, sea_orm::sea_query::Expr::current_timestamp().into())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let seed = serde_json::from_value(session.seed).map_err(anyhow::Error::from)?;
    let songs = songs_in_order(db, viewer, &picked).await?;
    Ok(Radio { id, seed, limits, songs })
}

/// Ends `viewer`'s radio `id`.
pub async fn end(db: &impl ConnectionTrait, viewer: UserId, id: Uuid) -> Result<()> {
    let deleted = radio_sessions::Entity::delete_many()
        .filter(radio_sessions::Column::Id.eq(id))
        .filter(radio_sessions::Column::UserId.eq(viewer.0))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
