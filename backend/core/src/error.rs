//! The core's one error type. Every API maps it to its own answers (the REST server to HTTP statuses in one
//! exhaustive match, `fermata::error`); the core never decides a status code.

use crate::cursor::NotACursor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist, or the caller may not know that it does.
    #[error("not found")]
    NotFound,
    /// The caller can see it but may not change it.
    #[error("{0}")]
    Forbidden(String),
    /// The request contradicts what is stored: a taken name, a stale version, a running scan. `code` is stable
    /// and machine-readable.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// One input is unusable, and why (`field` is the name the caller used for it).
    #[error("{field} {message}")]
    Invalid { field: &'static str, message: String },
    /// Well-formed, but refused as it stands (a search that would take too long, a cap reached).
    #[error("{0}")]
    Refused(String),
    /// A bounded resource (transcoding processes) is all in use: try again after `retry_after_secs`.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u64 },
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

/// A cursor the listing did not write is an unusable `cursor` input.
impl From<NotACursor> for Error {
    fn from(e: NotACursor) -> Self {
        Self::invalid("cursor", e.to_string())
    }
}
