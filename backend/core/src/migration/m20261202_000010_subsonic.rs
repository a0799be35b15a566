//! What the OpenSubsonic API needs beyond the web player's data: per-user Subsonic credentials (stored
//! encrypted, see `credentials`), stars on albums and artists (songs already have `favourites`), song
//! ratings, the saved play queue and what each listener is playing now.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261202_000010_subsonic", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
CREATE TABLE subsonic_credentials (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- HMAC-SHA-256 of the secret under the server's credential key: finds an apiKey's row without storing
    -- anything that reveals the secret.
    lookup        bytea NOT NULL UNIQUE CHECK (octet_length(lookup) = 32),
    -- AES-256-GCM of the secret (the user id bound as associated data), for token authentication, which needs
    -- the secret itself (md5(secret + salt)).
    nonce         bytea NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext    bytea NOT NULL CHECK (octet_length(ciphertext) BETWEEN 17 AND 256),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX subsonic_credentials_user_idx ON subsonic_credentials (user_id, created_at);

CREATE TABLE album_favourites (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    album_id    uuid NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, album_id)
);
CREATE INDEX album_favourites_album_idx ON album_favourites (album_id);

CREATE TABLE artist_favourites (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    artist_id   uuid NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, artist_id)
);
CREATE INDEX artist_favourites_artist_idx ON artist_favourites (artist_id);

CREATE TABLE ratings (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, song_id)
);
CREATE INDEX ratings_song_idx ON ratings (song_id);

-- One saved queue per user (the last device to save wins, as Subsonic clients expect).
CREATE TABLE play_queues (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    current_song_id  uuid REFERENCES songs (id) ON DELETE SET NULL,
    position_ms      bigint NOT NULL DEFAULT 0 CHECK (position_ms >= 0),
    changed_by       text NOT NULL CHECK (char_length(changed_by) <= 100),
    changed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE play_queue_entries (
    user_id   uuid NOT NULL REFERENCES play_queues (user_id) ON DELETE CASCADE,
    position  integer NOT NULL CHECK (position >= 0),
    -- A deleted song leaves the queue; the rest keep their order.
    song_id   uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, position)
);
CREATE INDEX play_queue_entries_song_idx ON play_queue_entries (song_id);

-- What a listener is playing now (the latest "now playing" report of any of their players): one row per user,
-- so a client naming endless players cannot grow the table.
CREATE TABLE now_playing (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    player      text NOT NULL CHECK (char_length(player) <= 100),
    started_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX now_playing_song_idx ON now_playing (song_id);
"#;

const DOWN: &str = r#"
DROP TABLE now_playing;
DROP TABLE play_queue_entries;
DROP TABLE play_queues;
DROP TABLE ratings;
DROP TABLE artist_favourites;
DROP TABLE album_favourites;
DROP TABLE subsonic_credentials;
"#;
