//! Fermata: a self-hosted music streaming server. `main.rs` is a thin shell over [`cli`]; tests start the
//! real application through [`startup::Application::build`] on port 0.

pub mod accounts;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
pub mod frontend;
pub mod health;
pub mod jobs;
pub mod library;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod playlists;
pub mod s3;
pub mod security;
pub mod startup;
pub mod state;
pub mod subsonic;
pub mod telemetry;

// Infrastructure modules of the core the server uses everywhere, under short paths (`crate::media`).
pub use fermata_core::{covers, entities, media, migration, postgres};
