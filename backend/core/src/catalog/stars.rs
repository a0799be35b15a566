//! Stars on albums and artists (a song's star is its favourite, `plays::set_favourite`) and song ratings.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DbErr, FromQueryResult,
    sea_query::{Expr, JoinType, OnConflict, Order, Query},
};

use super::{
    T,
    browse::{Album, Artist, artist_select, listed_artists},
};
use crate::{
    entities::{album_favourites, albums, artist_favourites, artists, ratings, songs},
    ids::{AlbumId, ArtistId, SongId, UserId},
    run::{all, execute},
};

/// Starred things listed at most (a listener's stars are a short list; this bounds the answer).
pub const MAX_LISTED: u64 = 5_000;

/// Stars or unstars an album. False when the album does not exist.
pub async fn star_album(db: &impl ConnectionTrait, user: UserId, album: AlbumId, on: bool) -> Result<bool, DbErr> {
    use album_favourites::Column as F;
    let table = Marks { table: album_favourites::Entity, user: F::UserId, item: F::AlbumId };
    table.set(db, user, (albums::Entity, albums::Column::Id), album.0, on).await
}

/// Stars or unstars an artist. False when the artist does not exist.
pub async fn star_artist(db: &impl ConnectionTrait, user: UserId, artist: ArtistId, on: bool) -> Result<bool, DbErr> {
    use artist_favourites::Column as F;
    let table = Marks { table: artist_favourites::Entity, user: F::UserId, item: F::ArtistId };
    table.set(db, user, (artists::Entity, artists::Column::Id), artist.0, on).await
}

/// A table of a user's marks on things (`album_favourites`, `artist_favourites`): its user and item columns.
struct Marks<E: sea_orm::EntityTrait> {
    table: E,
    user: E::Column,
    item: E::Column,
}

impl<E: sea_orm::EntityTrait> Marks<E> {
    /// Marks or unmarks `item` (a row of `items`); false when there is no such item.
    async fn set<I: sea_orm::EntityTrait>(
        &self,
        db: &impl ConnectionTrait,
        user: UserId,
        items: (I, I::Column),
        item: uuid::Uuid,
        on: bool,
    ) -> Result<bool, DbErr> {
        if on {
            let existing = Query::select()
                .expr(Expr::val(user))
                .column(items.1)
                .from(items.0)
                .and_where(Expr::col(items.1).eq(item))
                .to_owned();
            let insert = Query::insert()
                .into_table(self.table)
                .columns([self.user, self.item])
                .select_from(existing)
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .to_owned();
            execute(db, &insert).await?;
        } else {
            let delete = Query::delete()
                .from_table(self.table)
                .and_where(Expr::col(self.user).eq(user))
                .and_where(Expr::col(self.item).eq(item))
                .to_owned();
            execute(db, &delete).await?;
        }
        exists(db, items.0, items.1, item).await
    }

    /// When `user` marked each of `ids` (unmarked ones are absent).
    async fn times(
        &self,
        db: &impl ConnectionTrait,
        user: UserId,
        ids: impl IntoIterator<Item = uuid::Uuid>,
        at: E::Column,
    ) -> Result<Vec<(uuid::Uuid, DateTime<FixedOffset>)>, DbErr> {
        let ids: Vec<uuid::Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = Query::select()
            .expr_as(Expr::col(self.item), sea_orm::sea_query::Alias::new("id"))
            .expr_as(Expr::col(at), sea_orm::sea_query::Alias::new("created_at"))
            .from(self.table)
            .and_where(Expr::col(self.user).eq(user))
            .and_where(Expr::col(self.item).is_in(ids))
            .to_owned();
        Ok(all::<Starred>(db, &query).await?.into_iter().map(|s| (s.id, s.created_at)).collect())
    }
}

async fn exists<E: sea_orm::EntityTrait>(
    db: &impl ConnectionTrait,
    table: E,
    id_column: E::Column,
    id: uuid::Uuid,
) -> Result<bool, DbErr> {
    let query = Query::select().expr(Expr::val(1)).from(table).and_where(Expr::col(id_column).eq(id)).to_owned();
    Ok(db.query_one(crate::run::statement(&query)).await?.is_some())
}

#[derive(FromQueryResult)]
struct Starred {
    id: uuid::Uuid,
    created_at: DateTime<FixedOffset>,
}

/// When `user` starred each of `ids` (albums not starred are absent).
pub async fn album_stars(
    db: &impl ConnectionTrait,
    user: UserId,
    ids: &[AlbumId],
) -> Result<HashMap<AlbumId, DateTime<FixedOffset>>, DbErr> {
    use album_favourites::Column as F;
    let table = Marks { table: album_favourites::Entity, user: F::UserId, item: F::AlbumId };
    let times = table.times(db, user, ids.iter().map(|id| id.0), F::CreatedAt).await?;
    Ok(times.into_iter().map(|(id, at)| (AlbumId(id), at)).collect())
}

/// When `user` starred each of `ids` (artists not starred are absent).
pub async fn artist_stars(
    db: &impl ConnectionTrait,
    user: UserId,
    ids: &[ArtistId],
) -> Result<HashMap<ArtistId, DateTime<FixedOffset>>, DbErr> {
    use artist_favourites::Column as F;
    let table = Marks { table: artist_favourites::Entity, user: F::UserId, item: F::ArtistId };
    let times = table.times(db, user, ids.iter().map(|id| id.0), F::CreatedAt).await?;
    Ok(times.into_iter().map(|(id, at)| (ArtistId(id), at)).collect())
}

/// `user`'s starred albums, most recently starred first (at most [`MAX_LISTED`]).
pub async fn starred_albums(db: &impl ConnectionTrait, user: UserId) -> Result<Vec<Album>, DbErr> {
    super::browse::album_list(db, user, &super::browse::AlbumList::Starred, 0, MAX_LISTED).await
}

/// `user`'s starred artists, most recently starred first (at most [`MAX_LISTED`]).
pub async fn starred_artists(db: &impl ConnectionTrait, user: UserId) -> Result<Vec<Artist>, DbErr> {
    use artist_favourites::Column as F;
    let inner = artist_select()
        .column((artist_favourites::Entity, F::CreatedAt))
        .join(
            JoinType::InnerJoin,
            artist_favourites::Entity,
            Expr::col((artist_favourites::Entity, F::ArtistId))
                .equals((T::Ar, artists::Column::Id))
                .and(Expr::col((artist_favourites::Entity, F::UserId)).eq(user)),
        )
        .to_owned();
    let query = listed_artists(inner).order_by(F::CreatedAt, Order::Desc).limit(MAX_LISTED).to_owned();
    all(db, &query).await
}

/// Rates a song 1 to 5 for `user`, or clears the rating with 0. False when the song does not exist.
pub async fn rate(db: &impl ConnectionTrait, user: UserId, song: SongId, rating: u8) -> Result<bool, DbErr> {
    use ratings::Column as R;
    if !exists(db, songs::Entity, songs::Column::Id, song.0).await? {
        return Ok(false);
    }
    if rating == 0 {
        let delete = Query::delete()
            .from_table(ratings::Entity)
            .and_where(Expr::col(R::UserId).eq(user))
            .and_where(Expr::col(R::SongId).eq(song))
            .to_owned();
        execute(db, &delete).await?;
    } else {
        let upsert = Query::insert()
            .into_table(ratings::Entity)
            .columns([R::UserId, R::SongId, R::Rating])
            .values_panic([user.into(), song.into(), i16::from(rating.min(5)).into()])
            .on_conflict(
                OnConflict::columns([R::UserId, R::SongId])
                    .update_column(R::Rating)
                    .value(R::UpdatedAt, Expr::current_timestamp())
                    .to_owned(),
            )
            .to_owned();
        execute(db, &upsert).await?;
    }
    Ok(true)
}
