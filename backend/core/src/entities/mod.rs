//! SeaORM entities, one per table, in the shape `sea-orm-cli generate entity` emits. Keep them free of
//! behaviour: queries live as functions on the feature modules' models, JSON in their view types.

pub mod prelude;

pub mod albums;
pub mod artists;
pub mod favourites;
pub mod jobs;
pub mod playlist_entries;
pub mod playlists;
pub mod plays;
pub mod sessions;
pub mod songs;
pub mod users;
