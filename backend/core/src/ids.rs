//! Ids of the things a caller names. Separate types where two of them travel together through one call
//! (a user and a song, a playlist and one of its entries), so the compiler catches them swapped.

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DeriveValueType)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(/// An account.
    UserId);
id!(/// A song.
    SongId);
id!(/// An album.
    AlbumId);
id!(/// An artist (track artists and album artists alike).
    ArtistId);
id!(/// A playlist.
    PlaylistId);
id!(/// One entry of a playlist (the same song can be in it twice).
    EntryId);
