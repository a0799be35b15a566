//! The whole data model. Written as SQL rather than the schema builder because it leans on PostgreSQL
//! features the builder does not express: extensions, expression and partial indexes, GIN operator classes,
//! CHECK constraints and comments.

pub const MIGRATION: super::SqlMigration =
    super::SqlMigration { name: "m20261122_000001_initial", up: &[UP], down: &[DOWN] };

const UP: &str = r#"
-- Trigram similarity (typo-tolerant search) and accent folding ("dvorak" finds "Dvořák").
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (its dictionary could change), so it cannot appear in an index expression.
-- This wrapper pins the dictionary, which makes it safe to declare IMMUTABLE and index.
CREATE FUNCTION fermata_fold(input text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, input)) $$;
COMMENT ON FUNCTION fermata_fold(text) IS 'lower-cased, accent-free text for search indexes and comparisons';

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    username       text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 32),
    email          text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    display_name   text CHECK (char_length(display_name) <= 100),
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    disabled       boolean NOT NULL DEFAULT false,
    -- Bumped when the password changes or the account is disabled: a session remembers the epoch it was
    -- created in, so a session that outlives its row (a request in flight re-saving it) is still refused.
    session_epoch  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Usernames and emails are unique without regard to case.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
-- Admin pages list users newest first.
CREATE INDEX users_created_at_idx ON users (created_at DESC, id);

-- The layout tower-sessions-sqlx-store reads and writes (id, data, expiry_date), plus user_id, which the
-- store never touches: Fermata sets it after sign-in so every session of a user can be ended at once.
CREATE TABLE sessions (
    id           text PRIMARY KEY,
    data         bytea NOT NULL,
    expiry_date  timestamptz NOT NULL,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry_date);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE artists (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- One row per artist name, whatever its case: tags disagree on case more often than on spelling.
CREATE UNIQUE INDEX artists_name_key ON artists (lower(name));
CREATE INDEX artists_name_trgm_idx ON artists USING gin (fermata_fold(name) gin_trgm_ops);
CREATE INDEX artists_name_sort_idx ON artists (fermata_fold(name), id);

CREATE TABLE albums (
    id           uuid PRIMARY KEY,
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    -- The album artist ("Various Artists" for compilations), not necessarily each track's artist.
    artist_id    uuid NOT NULL REFERENCES artists (id) ON DELETE RESTRICT,
    year         integer CHECK (year BETWEEN 0 AND 9999),
    compilation  boolean NOT NULL DEFAULT false,
    -- Relative path of the cover image on the media volume or in the library folder, when one is known.
    cover_path   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX albums_artist_title_key ON albums (artist_id, lower(title));
CREATE INDEX albums_title_trgm_idx ON albums USING gin (fermata_fold(title) gin_trgm_ops);
CREATE INDEX albums_title_sort_idx ON albums (fermata_fold(title), id);
CREATE INDEX albums_created_at_idx ON albums (created_at DESC, id);

CREATE TABLE songs (
    id               uuid PRIMARY KEY,
    title            text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    artist_id        uuid NOT NULL REFERENCES artists (id) ON DELETE RESTRICT,
    album_id         uuid NOT NULL REFERENCES albums (id) ON DELETE RESTRICT,
    track_number     integer CHECK (track_number BETWEEN 0 AND 9999),
    track_total      integer CHECK (track_total BETWEEN 0 AND 9999),
    disc_number      integer CHECK (disc_number BETWEEN 0 AND 999),
    disc_total       integer CHECK (disc_total BETWEEN 0 AND 999),
    genre            text CHECK (char_length(genre) <= 200),
    year             integer CHECK (year BETWEEN 0 AND 9999),
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    codec            text NOT NULL,
    -- kbit/s
    bitrate          integer CHECK (bitrate >= 0),
    sample_rate      integer CHECK (sample_rate >= 0),
    channels         smallint CHECK (channels >= 0),
    size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
    -- SHA-256 of the file, hex: the identity of the bytes. Unique, so the same file is never stored twice.
    content_hash     text NOT NULL UNIQUE CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    -- 'media': an upload stored content-addressed under MEDIA_DIR; 'library': a file indexed in MUSIC_DIR.
    storage          text NOT NULL CHECK (storage IN ('media', 'library')),
    -- Relative to the storage root; never built from user input for uploads.
    path             text NOT NULL,
    -- Library files: the mtime seen by the last scan, so an unchanged file is skipped.
    file_mtime       timestamptz,
    has_embedded_cover boolean NOT NULL DEFAULT false,
    play_count       bigint NOT NULL DEFAULT 0 CHECK (play_count >= 0),
    -- Filled by the analysis job: EBU R128 integrated loudness (LUFS), true peak (dBTP), waveform peaks.
    loudness_lufs    real,
    true_peak_db     real,
    peaks            bytea,
    analysed_at      timestamptz,
    -- Denormalised "title artist album" kept by the application, so one index serves search.
    search_text      text NOT NULL DEFAULT '',
    -- Optimistic concurrency for edits: a PATCH names the version it read.
    version          integer NOT NULL DEFAULT 1,
    added_at         timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX songs_library_path_key ON songs (path) WHERE storage = 'library';
CREATE INDEX songs_artist_idx ON songs (artist_id);
CREATE INDEX songs_album_order_idx ON songs (album_id, disc_number, track_number);
CREATE INDEX songs_genre_idx ON songs (lower(genre));
CREATE INDEX songs_year_idx ON songs (year);
-- Keyset pagination: every sort key paired with the id as tie-breaker.
CREATE INDEX songs_title_sort_idx ON songs (fermata_fold(title), id);
CREATE INDEX songs_added_sort_idx ON songs (added_at, id);
CREATE INDEX songs_plays_sort_idx ON songs (play_count, id);
CREATE INDEX songs_duration_sort_idx ON songs (duration_ms, id);
-- Search: full text for whole words, trigrams for partial words and typos, both over folded text.
CREATE INDEX songs_search_fts_idx ON songs USING gin (to_tsvector('simple', fermata_fold(search_text)));
CREATE INDEX songs_search_trgm_idx ON songs USING gin (fermata_fold(search_text) gin_trgm_ops);
-- The analysis job looks for songs not analysed yet.
CREATE INDEX songs_unanalysed_idx ON songs (added_at) WHERE analysed_at IS NULL;

CREATE TABLE playlists (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description  text CHECK (char_length(description) <= 2000),
    public       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX playlists_owner_idx ON playlists (owner_id, created_at DESC);
CREATE INDEX playlists_public_idx ON playlists (created_at DESC) WHERE public;

CREATE TABLE playlist_entries (
    id           uuid PRIMARY KEY,
    playlist_id  uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    -- Deleting a song removes its entries: a playlist never points at a missing song.
    song_id      uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    -- 0-based, dense. Deferrable so a reorder can shift many positions inside one transaction.
    position     integer NOT NULL CHECK (position >= 0),
    added_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT playlist_entries_position_key UNIQUE (playlist_id, position) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX playlist_entries_song_idx ON playlist_entries (song_id);

CREATE TABLE plays (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    song_id    uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    played_at  timestamptz NOT NULL DEFAULT now()
);
-- History (a user's plays, newest first), the repeat rule (last play of a song by a user), charts.
CREATE INDEX plays_user_time_idx ON plays (user_id, played_at DESC);
CREATE INDEX plays_user_song_time_idx ON plays (user_id, song_id, played_at DESC);
CREATE INDEX plays_time_song_idx ON plays (played_at, song_id);
CREATE INDEX plays_song_idx ON plays (song_id);

CREATE TABLE favourites (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    song_id     uuid NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, song_id)
);
CREATE INDEX favourites_user_time_idx ON favourites (user_id, created_at DESC);
CREATE INDEX favourites_song_idx ON favourites (song_id);

-- Background work, taken with FOR UPDATE SKIP LOCKED and held under a lease, so a job whose replica died
-- is taken up again once the lease runs out.
CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_at        timestamptz NOT NULL DEFAULT now(),
    locked_by     text,
    lease_until   timestamptz,
    progress      jsonb,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX jobs_ready_idx ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_created_idx ON jobs (created_at DESC);
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS jobs, favourites, plays, playlist_entries, playlists, songs, albums, artists, sessions, users;
DROP FUNCTION IF EXISTS fermata_fold(text);
"#;
