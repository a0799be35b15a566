//! The OpenSubsonic API at `/rest/`: the protocol the apps listeners already use (Symfonium, DSub, Feishin,
//! Tempus, substreamer). A second API over the same core as `/api`: this module parses the protocol's
//! parameters, authenticates with Subsonic credentials (`fermata_core::credentials`), calls the core and shapes
//! the answer ([`response`]); no query or rule lives here.
//!
//! Every method answers at `/rest/<method>` and `/rest/<method>.view`, by GET and by url-encoded form POST.
//! Errors are HTTP 200 with `status="failed"` and the protocol's codes, except the refusals HTTP has words for
//! (429 when failed sign-ins hit the limit, 501 for methods Fermata does not implement).

mod methods;
pub mod response;
mod views;

use std::{net::IpAddr, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::Response,
    routing::any,
};
use fermata_core::{
    credentials::{Presented, Refusal},
    entities::users,
    error::Error as CoreError,
    ids::UserId,
};

use crate::{error::AppError, security::ClientIp, state::AppState};
pub use response::{Element, Envelope, Format};

/// The protocol's error codes.
pub mod code {
    pub const GENERIC: i64 = 0;
    pub const MISSING_PARAMETER: i64 = 10;
    pub const WRONG_CREDENTIALS: i64 = 40;
    pub const MECHANISM_NOT_SUPPORTED: i64 = 42;
    pub const CONFLICTING_MECHANISMS: i64 = 43;
    pub const INVALID_API_KEY: i64 = 44;
    pub const NOT_AUTHORISED: i64 = 50;
    pub const NOT_FOUND: i64 = 70;
}

/// The most values one repeated parameter may carry (`id=…&id=…`): the longest list any method takes (a
/// playlist or play queue of 10,000 songs). Per-method caps are lower where the work per value is larger.
pub const MAX_VALUES: usize = 10_000;

/// `/rest/{method}` and `/rest/{method}.view`, any HTTP method (GET and POST answer; others are refused in the
/// protocol's shape).
/// Browser-based clients (Feishin's web build, Airsonic Refix) call it from their own origin: any origin may,
/// as no cookie is involved (every request carries its own credentials).
pub fn router() -> Router<AppState> {
    use tower_http::cors::{Any, CorsLayer};
    let cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET, Method::POST]).allow_headers(Any);
    Router::new().route("/rest/{method}", any(dispatch)).layer(cors)
}

/// A refusal in the protocol's terms.
#[derive(Debug)]
pub struct Failure {
    code: i64,
    message: String,
    status: StatusCode,
    retry_after: Option<u64>,
}

impl Failure {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status: StatusCode::OK, retry_after: None }
    }

    pub fn missing(name: &str) -> Self {
        Self::new(code::MISSING_PARAMETER, format!("required parameter is missing: {name}"))
    }

    pub fn invalid(name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(code::GENERIC, format!("parameter {name} {why}"))
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(code::NOT_FOUND, format!("{what} not found"))
    }

    fn with_status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }

    fn render(self, format: Format) -> Response {
        let mut response = Envelope::failed(self.code, &self.message).render(format);
        *response.status_mut() = self.status;
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::NotFound => Self::new(code::NOT_FOUND, "not found"),
            CoreError::Forbidden(message) => Self::new(code::NOT_AUTHORISED, message),
            CoreError::Invalid { field, message } => Self::invalid(field, message),
            CoreError::Conflict { message, .. } | CoreError::Refused(message) => Self::new(code::GENERIC, message),
            CoreError::Busy { message, retry_after_secs } => AppError::Busy { message, retry_after_secs }.into(),
            CoreError::Database(e) => AppError::Database(e).into(),
            CoreError::Internal(e) => AppError::Internal(e).into(),
        }
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(error: sea_orm::DbErr) -> Self {
        AppError::Database(error).into()
    }
}

/// Errors of the shared HTTP code (streaming, covers) in the protocol's terms. Server errors are logged here
/// and never described to the client.
impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound => Self::not_found("file"),
            AppError::Forbidden(message) => Self::new(code::NOT_AUTHORISED, message),
            AppError::TooManyRequests { retry_after_secs }
            | AppError::Unavailable { retry_after_secs, .. }
            | AppError::Busy { retry_after_secs, .. } => {
                let status = if matches!(error, AppError::TooManyRequests { .. } | AppError::Busy { .. }) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                Self {
                    retry_after: Some(retry_after_secs),
                    ..Self::new(code::GENERIC, error.to_string()).with_status(status)
                }
            }
            AppError::Database(_) | AppError::Internal(_) => {
                tracing::error!(error = %error, "subsonic request failed");
                Self::new(code::GENERIC, "internal error")
            }
            other => Self::new(code::GENERIC, other.to_string()),
        }
    }
}

/// The request's parameters: the query string and, for a form POST, the body, in order; names case-sensitive
/// as the protocol defines them.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>, form: Option<&[u8]>) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(query) = query {
            pairs.extend(url::form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        if let Some(form) = form {
            pairs.extend(url::form_urlencoded::parse(form).into_owned());
        }
        Self(pairs)
    }

    /// The parameter's first value; an empty one is absent, as other servers take it (a web client restores
    /// its session with `p=` beside its token, and clients send `size=` for "the default").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.text(name).filter(|v| !v.is_empty())
    }

    /// The parameter's first value even when empty: for text whose emptiness means something (a comment
    /// cleared, a search for everything).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }

    /// Every value of a repeated parameter, at most `cap`.
    pub fn all(&self, name: &str, cap: usize) -> Result<Vec<&str>, Failure> {
        let values: Vec<&str> =
            self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str()).collect();
        if values.len() > cap {
            return Err(Failure::invalid(name, format!("is repeated {} times; at most {cap} are taken", values.len())));
        }
        Ok(values)
    }

    /// A boolean: `true`/`false` in any case (also `1`/`0`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Failure> {
        self.get(name)
            .map(|v| match v.trim() {
                v if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
                v if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
                _ => Err(Failure::invalid(name, "must be true or false")),
            })
            .transpose()
    }

    /// A number within `range`.
    pub fn number<T>(&self, name: &str, range: std::ops::RangeInclusive<T>) -> Result<Option<T>, Failure>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.get(name) else { return Ok(None) };
        let value: T = text.trim().parse().map_err(|_| Failure::invalid(name, "must be a number"))?;
        if !range.contains(&value) {
            return Err(Failure::invalid(name, format!("must be between {} and {}", range.start(), range.end())));
        }
        Ok(Some(value))
    }
}

/// An authenticated call: who, what they asked, how to answer.
pub struct Call {
    pub state: AppState,
    pub user: users::Model,
    pub params: Params,
    pub format: Format,
    pub headers: HeaderMap,
    /// GET, POST or HEAD (a HEAD of `stream` starts no transcode).
    pub http_method: Method,
}

impl Call {
    pub fn user_id(&self) -> UserId {
        UserId(self.user.id)
    }

    pub fn is_admin(&self) -> bool {
        fermata_core::accounts::Role::of(&self.user) == fermata_core::accounts::Role::Admin
    }

    /// The client's name (`c`), for the play queue and now playing.
    pub fn client(&self) -> String {
        self.params.get("c").unwrap_or("unknown").chars().take(100).collect()
    }
}

/// What a method answers: a protocol envelope or bytes (streams, covers).
pub enum Reply {
    Envelope(Envelope),
    Raw(Response),
}

impl From<Envelope> for Reply {
    fn from(envelope: Envelope) -> Self {
        Self::Envelope(envelope)
    }
}

/// A form POST (the `formPost` extension) carries its parameters in this kind of body; its size is bounded by
/// the router's JSON_BODY_LIMIT (1 MiB), as every body but uploads.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

async fn dispatch(
    State(state): State<AppState>,
    Path(method): Path<String>,
    ClientIp(ip): ClientIp,
    http_method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let name = method.strip_suffix(".view").unwrap_or(&method).to_owned();
    let body = match body {
        Ok(body) => body,
        // Past the 1 MiB body limit (or a broken body): refused in the protocol's shape, in the format the query
        // asked for (the body was not read, so its `f` is unknown).
        Err(rejection) => {
            let format = Format::parse(Params::parse(uri.query(), None).get("f"));
            return Failure::new(code::GENERIC, rejection.body_text()).with_status(rejection.status()).render(format);
        }
    };
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE)));
    let params = Params::parse(uri.query(), (http_method == Method::POST && form).then_some(&body[..]));
    let format = Format::parse(params.get("f"));
    if let Err(refusal) = state.rate_limits.check_api(ip) {
        return Failure::from(refusal).render(format);
    }
    if http_method != Method::GET && http_method != Method::POST && http_method != Method::HEAD {
        return Failure::new(code::GENERIC, "use GET or POST")
            .with_status(StatusCode::METHOD_NOT_ALLOWED)
            .render(format);
    }
    // The one method that needs no credentials: clients ask it before they know how to sign in.
    if name == "getOpenSubsonicExtensions" {
        return methods::extensions().render(format);
    }
    let user = match authenticate(&state, &params, ip).await {
        Ok(user) => user,
        Err(failure) => return failure.render(format),
    };
    // One music folder: any other asked for is not there (answering the whole library would be a lie).
    if params.get("musicFolderId").is_some_and(|id| id.trim() != methods::MUSIC_FOLDER_ID) {
        return Failure::not_found("music folder").render(format);
    }
    let call = Call { state, user, params, format, headers, http_method };
    match methods::run(&name, &call).await {
        Ok(Reply::Envelope(envelope)) => envelope.render(format),
        Ok(Reply::Raw(response)) => response,
        Err(failure) => failure.render(format),
    }
}

/// The account a request speaks for, from `apiKey`, `u`+`t`+`s` or `u`+`p`. Failed attempts spend the client's
/// sign-in budget (and the named account's); past it, 429 until the budget refills, whatever is presented.
async fn authenticate(state: &AppState, params: &Params, ip: IpAddr) -> Result<users::Model, Failure> {
    let username = params.get("u");
    let presented = match (params.get("apiKey"), username) {
        (Some(_), Some(_)) => {
            return Err(Failure::new(code::CONFLICTING_MECHANISMS, "give either apiKey or u with t and s, not both"));
        }
        (Some(key), None) => Presented::ApiKey(key),
        (None, Some(username)) => match (params.get("t"), params.get("p")) {
            (Some(_), Some(_)) => {
                return Err(Failure::new(code::CONFLICTING_MECHANISMS, "give either t and s, or p, not both"));
            }
            (Some(token), None) => Presented::Token { username, token, salt: params.required("s")? },
            (None, Some(password)) => Presented::Password { username, password },
            (None, None) => return Err(Failure::missing("t")),
        },
        (None, None) => return Err(Failure::missing("u")),
    };
    if let Some(wait) = state.rate_limits.subsonic_blocked(ip, username) {
        return Err(too_many(wait));
    }
    let refusal = match state.subsonic.authenticate(&state.db, presented).await.map_err(Failure::from)? {
        Ok(user) => return Ok(user),
        Err(refusal) => refusal,
    };
    // One budget per account whether `u` is its username or its email (per name for unknown ones), as sign-in;
    // once spent, both names are refused.
    let (account, names) = match username {
        Some(name) => match fermata_core::accounts::find_by_login(&state.db, name).await.map_err(Failure::from)? {
            Some(user) => (user.id.to_string(), vec![user.username, user.email]),
            None => (name.to_lowercase(), vec![name.to_owned()]),
        },
        None => ("apikey".to_owned(), Vec::new()),
    };
    if let Err(wait) = state.rate_limits.subsonic_failed(ip, &account, &names) {
        tracing::info!(%ip, "subsonic sign-in attempts over the limit");
        return Err(too_many(wait));
    }
    Err(match refusal {
        Refusal::WrongCredentials => Failure::new(code::WRONG_CREDENTIALS, "wrong username or credential"),
        Refusal::InvalidApiKey => Failure::new(code::INVALID_API_KEY, "invalid API key"),
        Refusal::NotConfigured => Failure::new(
            code::WRONG_CREDENTIALS,
            "Subsonic access is not enabled on this server (its admin sets SUBSONIC_CREDENTIAL_KEY)",
        ),
    })
}

fn too_many(wait: Duration) -> Failure {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Failure {
        retry_after: Some(secs.max(1)),
        ..Failure::new(code::WRONG_CREDENTIALS, "too many failed sign-ins; wait before trying again")
            .with_status(StatusCode::TOO_MANY_REQUESTS)
    }
}
