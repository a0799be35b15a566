//! Extractors that turn every rejection into [`AppError`], and validation at the edge.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::AppError;

/// `axum::Json` whose rejections use the API's error shape (400 syntax, 422 types, 413 size, 415 type).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with the API's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with the API's error shape (a malformed id is 404).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// A JSON body that has passed its `validator` rules; otherwise 422 with every problem in `fields`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// Query parameters that have passed their `validator` rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        value.validate()?;
        Ok(Self(value))
    }
}

// In the OpenAPI document, fields checked by `text_line` carry the same rule as an ECMA-262 pattern (at least one
// non-space character, no C0/C1 controls or U+2028/9) and those checked by `no_nul` `^[^\x00]*$`, so generated
// clients and the contract test know them. utoipa takes only string literals there, hence the copies.

/// A one-line name or title: not blank (whitespace only would be stored as nothing, and a title of nothing
/// breaks sorting and display), and no control characters (NUL, line breaks, VT/NEL, U+2028/9 line and
/// paragraph separators), which would break the line it is shown on or written to (M3U, logs).
pub fn text_line(text: &str) -> Result<(), validator::ValidationError> {
    if text.trim().is_empty() {
        return Err(validator::ValidationError::new("blank").with_message("must not be blank".into()));
    }
    if text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(
            validator::ValidationError::new("control").with_message("must not contain control characters".into())
        );
    }
    Ok(())
}

/// PostgreSQL text cannot hold NUL; refusing it at the edge keeps such input a 422 instead of a failed query.
pub fn no_nul(text: &str) -> Result<(), validator::ValidationError> {
    if text.contains('\0') {
        Err(validator::ValidationError::new("nul").with_message("must not contain NUL characters".into()))
    } else {
        Ok(())
    }
}
