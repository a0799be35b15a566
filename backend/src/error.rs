//! The one error type of the HTTP API and its JSON shape:
//! `{"error": {"code": "snake_case", "message": "human text", "fields": {"field": ["problem"]}}}`.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use fermata_core::error::Error as CoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Field name → problems, as returned with 422.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("some fields are invalid")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests, slow down")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{message}")]
    Unavailable { message: String, retry_after_secs: u64 },
    /// A bounded resource is all in use (transcoding processes): 429 with the reason and Retry-After.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u64 },
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `validation_failed`, `unauthorized`, ...
    pub code: String,
    /// For people; never contains internals.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
}

impl AppError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    /// A body over the limit every route but uploads has.
    pub fn body_too_large() -> Self {
        Self::PayloadTooLarge(format!("the request body may be at most {} KiB", crate::startup::JSON_BODY_LIMIT / 1024))
    }

    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field.to_owned(), vec![problem.into()])]))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } | Self::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Database(sea_orm::DbErr::ConnectionAcquire(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::Unprocessable(_) => "unprocessable",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Busy { .. } => "busy",
            Self::Unavailable { .. } | Self::Database(sea_orm::DbErr::ConnectionAcquire(_)) => "unavailable",
            Self::Database(_) | Self::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Every database connection busy (or the database down): overload, not a bug. Say so and when to retry.
        let saturated = matches!(self, Self::Database(sea_orm::DbErr::ConnectionAcquire(_)));
        if saturated {
            tracing::warn!("no database connection free in time; answering 503");
        }
        let message = if saturated {
            "the server is busy; try again shortly".to_owned()
        } else if status.is_server_error() && !matches!(self, Self::Unavailable { .. }) {
            // Logged inside the request's span, so the line carries the request id; the client only
            // learns that something failed and which request id to quote.
            tracing::error!(error = ?self, "internal error");
            "something went wrong on our side; the request id in the x-request-id header identifies it".to_owned()
        } else {
            self.to_string()
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs }
            | Self::Unavailable { retry_after_secs, .. }
            | Self::Busy { retry_after_secs, .. } => Some(*retry_after_secs),
            _ if saturated => Some(2),
            _ => None,
        };
        let code = self.code().to_owned();
        let fields = match self {
            Self::Validation(fields) => Some(fields),
            _ => None,
        };
        let mut response = (status, Json(ErrorBody { error: ErrorDetail { code, message, fields } })).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<BytesRejection> for AppError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::body_too_large()
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::Unprocessable(e.body_text()),
            JsonRejection::JsonSyntaxError(_) => Self::BadRequest("the body is not valid JSON".into()),
            JsonRejection::MissingJsonContentType(_) => {
                Self::UnsupportedMediaType("send the body as application/json".into())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::body_too_large(),
            other => Self::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Unprocessable(rejection.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A malformed id names nothing that exists.
        Self::NotFound
    }
}

/// The core's errors as HTTP answers: the one place their statuses are decided.
impl From<CoreError> for AppError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound => Self::NotFound,
            CoreError::Forbidden(message) => Self::Forbidden(message),
            CoreError::Conflict { code, message } => Self::Conflict { code, message },
            CoreError::Invalid { field, message } => Self::field(field, message),
            CoreError::Refused(message) => Self::Unprocessable(message),
            CoreError::Busy { message, retry_after_secs } => Self::Busy { message, retry_after_secs },
            CoreError::Database(e) => Self::Database(e),
            CoreError::Internal(e) => Self::Internal(e),
        }
    }
}

/// Object storage (MEDIA_STORE=s3): a missing object is a 404; a store that cannot be reached is a 503 the client
/// may retry, logged here with its cause (never sent to the client).
impl From<fermata_core::objects::ObjectError> for AppError {
    fn from(e: fermata_core::objects::ObjectError) -> Self {
        match e {
            fermata_core::objects::ObjectError::NotFound => Self::NotFound,
            fermata_core::objects::ObjectError::Unavailable(cause) => {
                tracing::warn!("object storage: {cause:#}");
                Self::Unavailable {
                    message: "the media store cannot be reached; try again shortly".into(),
                    retry_after_secs: 5,
                }
            }
        }
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let fields = errors
            .field_errors()
            .into_iter()
            .map(|(field, problems)| {
                let messages = problems
                    .iter()
                    .map(|p| p.message.as_ref().map_or_else(|| p.code.to_string(), ToString::to_string))
                    .collect();
                (field.to_string(), messages)
            })
            .collect();
        Self::Validation(fields)
    }
}
