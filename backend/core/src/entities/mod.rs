//! SeaORM entities, one per table, in the shape `sea-orm-cli generate entity` emits. Keep them free of
//! behaviour: queries live in the core's feature modules (`catalog`, `playlists`, `accounts`, `jobs`), JSON in
//! the server's view types.

pub mod prelude;

pub mod album_favourites;
pub mod albums;
pub mod artist_favourites;
pub mod artists;
pub mod favourites;
pub mod jobs;
pub mod now_playing;
pub mod object_uploads;
pub mod play_queue_entries;
pub mod play_queues;
pub mod playlist_entries;
pub mod playlists;
pub mod plays;
// The derive qualifies the array column's element type more than the lint likes; the file stays as generated.
#[allow(unused_qualifications)]
pub mod radio_sessions;
pub mod ratings;
pub mod server_keys;
pub mod sessions;
pub mod songs;
pub mod subsonic_credentials;
pub mod transcodes;
pub mod users;
