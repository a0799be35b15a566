//! "More like this": the songs that sound closest to a song, an album, an artist or a playlist, from the
//! replica's songs by sound ([`super::sound`]). Both APIs ask here: the REST API's `/similar`, radio
//! ([`super::radio`]) and Subsonic's `getSimilarSongs`.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Song,
    search::{SearchIndex, in_order, read},
    songs_by_id,
    sound::Filter,
};
use crate::{
    entities::{playlist_entries, songs},
    error::{Error, Result},
    ids::{AlbumId, ArtistId, PlaylistId, SongId, UserId},
    sonic::{Vector, similarity},
};

/// Most songs one question returns.
pub const MAX_LIMIT: u64 = 100;

/// Where "similar" starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seed {
    Song(SongId),
    Album(AlbumId),
    Artist(ArtistId),
    Playlist(PlaylistId),
}

/// A seed as a point to search around: its vector (the mean of its analysed songs), its own songs (never
/// offered as "similar") and, for a song, its album.
pub(super) struct Origin {
    pub vector: Vector,
    pub songs: HashSet<Uuid>,
    pub album: Option<Uuid>,
}

/// Songs of a seed, as far as `viewer` may see them (a playlist they cannot see is not found).
async fn seed_songs(db: &impl ConnectionTrait, viewer: UserId, seed: Seed) -> Result<(Vec<Uuid>, Option<Uuid>)> {
    let column = |filter: sea_orm::Select<songs::Entity>| filter.select_only().column(songs::Column::Id);
    let ids: Vec<Uuid> = match seed {
        Seed::Song(id) => {
            let album = songs::Entity::find_by_id(id.0)
                .select_only()
                .column(songs::Column::AlbumId)
                .into_tuple::<Uuid>()
                .one(db)
                .await?
                .ok_or(Error::NotFound)?;
            return Ok((vec![id.0], Some(album)));
        }
        Seed::Album(id) => {
            column(songs::Entity::find().filter(songs::Column::AlbumId.eq(id.0))).into_tuple().all(db).await?
        }
        Seed::Artist(id) => {
            column(songs::Entity::find().filter(songs::Column::ArtistId.eq(id.0))).into_tuple().all(db).await?
        }
        Seed::Playlist(id) => {
            crate::playlists::get(db, viewer, id).await?;
            playlist_entries::Entity::find()
                .filter(playlist_entries::Column::PlaylistId.eq(id.0))
                .select_only()
                .column(playlist_entries::Column::SongId)
                .into_tuple()
                .all(db)
                .await?
        }
    };
    if ids.is_empty() && !matches!(seed, Seed::Playlist(_)) {
        return Err(Error::NotFound);
    }
    Ok((ids, None))
}

pub(super) async fn origin(
    db: &impl ConnectionTrait,
    index: &SearchIndex,
    viewer: UserId,
    seed: Seed,
) -> Result<Origin> {
    index.wait_ready().await?;
    let (ids, album) = seed_songs(db, viewer, seed).await?;
    let vector = {
        let sounds = index.sounds();
        let vectors: Vec<Vector> = ids.iter().filter_map(|id| sounds.vector(*id)).collect();
        Vector::mean(&vectors)
    };
    let vector = vector.ok_or_else(|| {
        Error::conflict("not_analysed", "nothing to start from has been analysed yet: try again once analysis ran")
    })?;
    Ok(Origin { vector, songs: ids.into_iter().collect(), album })
}

/// The songs closest to `seed` by sound, closest first, as `viewer` sees them; never the seed's own songs,
/// and with `other_albums`, never a song of the seed song's album.
pub async fn similar(
    db: &impl ConnectionTrait,
    index: &SearchIndex,
    viewer: UserId,
    seed: Seed,
    limit: u64,
    other_albums: bool,
) -> Result<Vec<Scored>> {
    let origin = origin(db, index, viewer, seed).await?;
    let filter =
        Filter { exclude: origin.songs, other_than_album: origin.album.filter(|_| other_albums), ..Filter::default() };
    let limit = usize::try_from(limit.min(MAX_LIMIT)).unwrap_or(0);
    let found = index.sounds().nearest(&origin.vector, limit, &filter);
    let ids: Vec<Uuid> = found.iter().map(|(id, _)| *id).collect();
    let songs = songs_in_order(db, viewer, &ids).await?;
    let scores: std::collections::HashMap<Uuid, u32> = found.into_iter().collect();
    Ok(songs
        .into_iter()
        .map(|song| {
            let similarity = similarity(scores.get(&song.id.0).copied().unwrap_or(u32::MAX));
            Scored { song, similarity }
        })
        .collect())
}

/// A song and how close it sounds to where the question started (1 the same, 0 the most different).
pub struct Scored {
    pub song: Song,
    pub similarity: f32,
}

/// Songs leading from one song to another by sound (OpenSubsonic's `findSonicPath`): `from`, then at each step the
/// unused song nearest to a point moving evenly from `from`'s vector to `to`'s, then `to`; at most `count` songs.
pub async fn path(
    db: &impl ConnectionTrait,
    index: &SearchIndex,
    viewer: UserId,
    from: SongId,
    to: SongId,
    count: u64,
) -> Result<Vec<Scored>> {
    let start = origin(db, index, viewer, Seed::Song(from)).await?.vector;
    let end = origin(db, index, viewer, Seed::Song(to)).await?.vector;
    let count = usize::try_from(count.clamp(2, MAX_LIMIT)).unwrap_or(2);
    let mut ids = vec![from.0];
    let mut filter = Filter { exclude: [from.0, to.0].into(), ..Filter::default() };
    let score: std::collections::HashMap<Uuid, f32> = {
        let sounds = index.sounds();
        for step in 1..count - 1 {
            let point = start.towards(&end, step as f32 / (count - 1) as f32);
            let Some((id, _)) = sounds.nearest(&point, 1, &filter).into_iter().next() else { break };
            filter.exclude.insert(id);
            ids.push(id);
        }
        if from != to {
            ids.push(to.0);
        }
        let score = |id: &Uuid| sounds.vector(*id).map_or(0.0, |v| similarity(start.distance(&v)));
        ids.iter().map(|id| (*id, score(id))).collect()
    };
    Ok(songs_in_order(db, viewer, &ids)
        .await?
        .into_iter()
        .map(|song| Scored { similarity: score[&song.id.0], song })
        .collect())
}

/// The rows of `ids` as `viewer` sees them, in that order (songs deleted meanwhile left out).
pub(super) async fn songs_in_order(db: &impl ConnectionTrait, viewer: UserId, ids: &[Uuid]) -> Result<Vec<Song>> {
    let query = songs_by_id(viewer, ids);
    let rows = read::<Song>(db, &query, !ids.is_empty()).await?;
    Ok(in_order(rows, ids, |s| s.id.into()))
}
