//! Fermata's domain core: what every API (the REST API today, OpenSubsonic next) shares and none of them owns.
//! It knows no HTTP: `cargo tree -p fermata-core` shows no axum, tower or http, and the server crate
//! (`backend/`, package `fermata`) depends on it, never the other way round.
//!
//! It holds the domain types and rules, every query (sea-query over the generated entities), the job queue,
//! the cross-replica events and the replica's LISTEN connection, the media store, tag reading, audio analysis,
//! M3U, password hashing and the text rules. Its errors are [`error::Error`]; each API decides what they
//! answer. docs/architecture.md walks through it.

pub mod accounts;
pub mod analysis;
pub mod catalog;
pub mod covers;
pub mod credentials;
pub mod cursor;
pub mod entities;
pub mod error;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod library;
pub mod m3u;
pub mod media;
pub mod migration;
pub mod objects;
pub mod password;
pub mod playlists;
pub mod postgres;
mod run;
pub mod sonic;
pub mod tags;
pub mod text;
pub mod transcode;
