//! Integration tests: one binary (one shared PostgreSQL server per run), the real application started on
//! port 0 against a fresh database per test.

mod accounts;
mod catalog;
mod cluster;
mod fixtures;
mod foundation;
mod ingest;
mod objects;
mod playlists;
mod sonic;
mod subsonic;
mod support;
mod transcode;
