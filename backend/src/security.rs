//! Request-level protection: the client's address (trusting X-Forwarded-For only from configured proxies),
//! rate limits, the cross-site request check and the security headers.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter,
    clock::{Clock, DefaultClock, QuantaInstant},
};
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

use crate::{config::Config, error::AppError, state::AppState};

/// Scrobbles one listener may send a replica per minute: a day of continuous listening offline is ~400 songs,
/// which a client submits over a few minutes; a made-up history of thousands is refused.
pub const SCROBBLES_PER_MINUTE: u32 = 120;

/// In-memory, per-process limits. Behind N replicas a client gets up to N times these, which keeps them
/// an abuse brake without a shared store; docs/architecture.md says so.
pub struct RateLimits {
    api: DefaultKeyedRateLimiter<IpAddr>,
    auth_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Keyed by account: attempts against one account from anywhere. Its burst is larger than the per-IP
    /// one and it refills continuously; an attacker with many addresses can hold it at zero, which is why
    /// the owner's known devices have budgets of their own (see `accounts::devices`).
    auth_per_account: DefaultKeyedRateLimiter<String>,
    /// Keyed by device cookie: sign-ins from a browser known to the account, with the per-account quota.
    auth_per_device: DefaultKeyedRateLimiter<String>,
    /// Keyed by listener: Subsonic scrobbles, [`SCROBBLES_PER_MINUTE`] (one call once added 500 plays to the charts).
    scrobbles: DefaultKeyedRateLimiter<uuid::Uuid>,
    trusted_proxies: Vec<IpNet>,
    /// Addresses whose failed Subsonic sign-ins ran out of budget, until when. Subsonic clients send their
    /// credentials with every request, so only failures spend the budget; once it is spent every attempt is
    /// refused until it refills, a right guess included.
    subsonic_blocked: moka::sync::Cache<IpAddr, std::time::Instant>,
    /// Accounts whose failed Subsonic sign-ins ran out of the account's budget, until when, under every name
    /// they answer to (username and email, folded): refused before any credential is checked, a right one too.
    subsonic_blocked_names: moka::sync::Cache<String, std::time::Instant>,
}

impl RateLimits {
    pub fn new(config: &Config) -> Arc<Self> {
        let per = |period: Duration, burst: u32| {
            Quota::with_period(period)
                .expect("period is positive")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is positive"))
        };
        let api_period = Duration::from_secs_f64(1.0 / f64::from(config.rate_limit_api_per_sec.max(1)));
        let auth_period = Duration::from_secs(config.rate_limit_auth_period_secs.max(1));
        // Per account, and per known device of an account: four times the burst, refilling four times as fast.
        let account_quota = per(auth_period / 4, config.rate_limit_auth_burst * 4);
        Arc::new(Self {
            api: RateLimiter::keyed(per(api_period, config.rate_limit_api_burst)),
            auth_per_ip: RateLimiter::keyed(per(auth_period, config.rate_limit_auth_burst)),
            auth_per_account: RateLimiter::keyed(account_quota),
            auth_per_device: RateLimiter::keyed(account_quota),
            scrobbles: RateLimiter::keyed(
                Quota::per_minute(NonZeroU32::new(SCROBBLES_PER_MINUTE).expect("positive"))
                    .allow_burst(NonZeroU32::new(SCROBBLES_PER_MINUTE).expect("positive")),
            ),
            trusted_proxies: config.trusted_proxies.clone(),
            subsonic_blocked: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(auth_period * config.rate_limit_auth_burst.max(1))
                .build(),
            subsonic_blocked_names: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(auth_period * config.rate_limit_auth_burst.max(1))
                .build(),
        })
    }

    /// One request from `ip` against the general API limit.
    pub fn check_api(&self, ip: IpAddr) -> Result<(), AppError> {
        self.api.check_key(&ip).map_err(too_many)
    }

    /// One sign-in or registration attempt from `ip`.
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), AppError> {
        self.auth_per_ip.check_key(&ip).map_err(too_many)
    }

    /// One sign-in attempt against `account` (case-folded).
    pub fn check_auth_account(&self, account: &str) -> Result<(), AppError> {
        self.auth_per_account.check_key(&account.to_lowercase()).map_err(too_many)
    }

    /// One sign-in attempt from a known device (its cookie value), instead of the account's budget.
    pub fn check_auth_device(&self, device: &str) -> Result<(), AppError> {
        self.auth_per_device.check_key(&device.to_owned()).map_err(too_many)
    }

    /// `count` scrobbles by `listener`: all of them within the budget, or none (and how long to wait).
    pub fn check_scrobbles(&self, listener: uuid::Uuid, count: u32) -> Result<(), AppError> {
        let Some(count) = NonZeroU32::new(count) else { return Ok(()) };
        match self.scrobbles.check_key_n(&listener, count) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(too_many(not_until)),
            // More than the whole budget in one call: the caller's own cap prevents it.
            Err(_) => Err(AppError::TooManyRequests { retry_after_secs: 60 }),
        }
    }

    /// How long a Subsonic sign-in from `ip` naming `name` must still wait, if the address or the named account
    /// spent its budget.
    pub fn subsonic_blocked(&self, ip: IpAddr, name: Option<&str>) -> Option<Duration> {
        let now = std::time::Instant::now();
        let by_ip = self.subsonic_blocked.get(&ip).and_then(|until| until.checked_duration_since(now));
        let by_name = name
            .and_then(|n| self.subsonic_blocked_names.get(&n.to_lowercase()))
            .and_then(|until| until.checked_duration_since(now));
        by_ip.max(by_name)
    }

    /// One failed Subsonic sign-in from `ip` against `account` (the account's id, or the name when unknown),
    /// spending both budgets (the sign-in ones). When either is spent, how long to wait; an address that spent
    /// its own, or an account under any of its `names`, is refused until then.
    pub fn subsonic_failed(&self, ip: IpAddr, account: &str, names: &[String]) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let Err(not_until) = self.auth_per_ip.check_key(&ip) {
            let wait = not_until.wait_time_from(now);
            self.subsonic_blocked.insert(ip, std::time::Instant::now() + wait);
            return Err(wait);
        }
        self.auth_per_account.check_key(&account.to_lowercase()).map_err(|not_until| {
            let wait = not_until.wait_time_from(now);
            for name in names {
                self.subsonic_blocked_names.insert(name.to_lowercase(), std::time::Instant::now() + wait);
            }
            wait
        })
    }

    /// Forgets keys that are back to a full budget, so the maps do not grow without bound.
    pub fn spawn_cleanup(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {
                        self.api.retain_recent();
                        self.auth_per_ip.retain_recent();
                        self.auth_per_account.retain_recent();
                        self.auth_per_device.retain_recent();
                        self.scrobbles.retain_recent();
                    }
                }
            }
        });
    }

    /// The client's address (see [`client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(&self.trusted_proxies, peer, headers)
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
/// X-Forwarded-For that is not itself a trusted proxy. Everything left of that hop was written by the client
/// and is not believed; that is why only the proxies really in front may be trusted (a trusted range that
/// also holds clients lets those clients name any address).
pub fn client_ip(trusted_proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !trusted(ip))
        .unwrap_or(peer)
}

fn too_many(not_until: NotUntil<QuantaInstant>) -> AppError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    AppError::TooManyRequests { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
}

/// The client address of a request (see [`RateLimits::client_ip`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| anyhow::anyhow!("server started without connect info"))?;
        Ok(Self(state.rate_limits.client_ip(peer, &parts.headers)))
    }
}

/// The general per-client API limit.
pub async fn api_rate_limit(State(state): State<AppState>, ip: ClientIp, request: Request, next: Next) -> Response {
    match state.rate_limits.check_api(ip.0) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Per-client limit on sign-in and registration.
pub async fn auth_rate_limit(State(state): State<AppState>, ip: ClientIp, request: Request, next: Next) -> Response {
    match state.rate_limits.check_auth_ip(ip.0) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Origins allowed to make state-changing requests: PUBLIC_URL's, plus any CORS_ORIGINS.
#[derive(Debug, Clone)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    pub fn new(config: &Config) -> Self {
        let mut origins = vec![config.public_origin()];
        origins.extend(config.cors_origins.iter().map(|u| u.origin().ascii_serialization()));
        Self(Arc::new(origins))
    }

    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }
}

/// Refuses state-changing requests sent by another site's page: the browser names the page's origin in
/// Origin (or, failing that, Referer), and it must be ours. Requests with neither come from non-browser
/// clients, which cannot ride on a victim's cookie.
pub async fn same_origin(State(allowed): State<AllowedOrigins>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let headers = request.headers();
        let claimed = headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("null").to_owned()).or_else(|| {
            headers.get(header::REFERER).map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|r| Url::parse(r).ok())
                    .map_or_else(|| "null".to_owned(), |u| u.origin().ascii_serialization())
            })
        });
        if let Some(origin) = claimed
            && !allowed.allows(&origin)
        {
            tracing::warn!(%origin, "refused a cross-site request");
            return AppError::Forbidden("cross-site requests are not allowed".into()).into_response();
        }
    }
    next.run(request).await
}

/// Security headers on every response (set only where a handler has not chosen its own).
pub fn headers() -> [SetResponseHeaderLayer<HeaderValue>; 4] {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    [
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        set(header::REFERRER_POLICY, "same-origin"),
        set(header::X_FRAME_OPTIONS, "DENY"),
        set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
             style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; \
             base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(chain: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(chain).unwrap());
        headers
    }

    #[test]
    fn a_lan_client_behind_the_compose_nginx_cannot_name_another_address() {
        // docker-compose.yml trusts nginx's fixed address only. nginx appends the LAN client's real address to
        // whatever the client sent; that right-most untrusted hop is the client.
        let nginx: IpAddr = "172.31.240.10".parse().unwrap();
        let only_nginx: Vec<IpNet> = vec!["172.31.240.10/32".parse().unwrap()];
        let spoofed = forwarded("203.0.113.50, 192.168.1.23");
        assert_eq!(client_ip(&only_nginx, nginx, &spoofed), "192.168.1.23".parse::<IpAddr>().unwrap());
        // Trusting every private range (the old compose setting) believed the spoofed address.
        let private: Vec<IpNet> =
            ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map(|n| n.parse().unwrap()).to_vec();
        assert_eq!(client_ip(&private, nginx, &spoofed), "203.0.113.50".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_headers_from_anyone_else_are_ignored() {
        let only_nginx: Vec<IpNet> = vec!["172.31.240.10/32".parse().unwrap()];
        let lan: IpAddr = "192.168.1.23".parse().unwrap();
        assert_eq!(client_ip(&only_nginx, lan, &forwarded("203.0.113.50")), lan);
        // Garbage and chains of proxies only: the peer.
        let nginx: IpAddr = "172.31.240.10".parse().unwrap();
        assert_eq!(client_ip(&only_nginx, nginx, &forwarded("not-an-ip, 172.31.240.10")), nginx);
    }
}
