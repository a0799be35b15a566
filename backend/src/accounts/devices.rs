//! Known devices: a browser that signs in to an account gets a cookie, signed by the server, naming that
//! account. Failed sign-ins from many addresses can exhaust an account's sign-in budget (that is what stops a
//! distributed guesser), and without this the owner would be locked out with the guesser. A sign-in that
//! presents a valid device cookie for the account it names spends that device's own budget instead, so the
//! owner's usual browsers keep getting in while an attack holds the account's budget at zero (OWASP's "device
//! cookies"). The cookie authenticates nothing: the password is still checked.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sea_orm::DatabaseConnection;
use sha2::Sha256;
use tower_sessions::cookie::{Cookie, SameSite, time::Duration};
use uuid::Uuid;

/// How long a device stays known without signing in again.
const LIFETIME_DAYS: i64 = 180;

/// The signing key, shared by all replicas through the database.
#[derive(Clone)]
pub struct DeviceKey(Arc<[u8]>);

impl DeviceKey {
    /// The key from `server_keys`, made (32 random bytes) by whichever replica gets there first.
    pub async fn load(db: &DatabaseConnection) -> fermata_core::error::Result<Self> {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut fresh = [0u8; 32];
        OsRng.fill_bytes(&mut fresh);
        Ok(Self(fermata_core::accounts::shared_key(db, "device_cookie", fresh.to_vec()).await?.into()))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A cookie value for `user`: `<user>.<expires, unix seconds>.<signature>`.
    pub fn issue(&self, user: Uuid) -> String {
        let payload = format!("{user}.{}", Utc::now().timestamp() + LIFETIME_DAYS * 86_400);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Whether `value` is an unexpired device cookie this server issued for `user`.
    pub fn is_known(&self, value: &str, user: Uuid) -> bool {
        let Some((payload, signature)) = value.rsplit_once('.') else { return false };
        let Some((named, expires)) = payload.split_once('.') else { return false };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        // verify_slice compares in constant time.
        self.mac(payload).verify_slice(&signature).is_ok()
            && named.parse::<Uuid>().is_ok_and(|named| named == user)
            && expires.parse::<i64>().is_ok_and(|expires| expires > Utc::now().timestamp())
    }
}

fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-fermata_device" } else { "fermata_device" }
}

/// The device cookie the request carries, if any.
pub fn presented(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The Set-Cookie header that makes this browser a known device of `user` (renewed at each sign-in).
pub fn set_cookie(key: &DeviceKey, user: Uuid, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((cookie_name(secure), key.issue(user)))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(Duration::days(LIFETIME_DAYS))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie of ASCII parts is a valid header")
}

#[cfg(test)]
mod tests {
    use super::DeviceKey;
    use uuid::Uuid;

    #[test]
    fn only_the_servers_own_unexpired_cookie_for_that_account_is_known() {
        let key = DeviceKey(vec![7u8; 32].into());
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let value = key.issue(user);
        assert!(key.is_known(&value, user));
        assert!(!key.is_known(&value, other), "a cookie names one account");
        assert!(!DeviceKey(vec![8u8; 32].into()).is_known(&value, user), "another server's key");
        let (payload, signature) = value.rsplit_once('.').unwrap();
        let forged = payload.replace(&user.to_string(), &other.to_string());
        assert!(!key.is_known(&format!("{forged}.{signature}"), other), "the account cannot be swapped");
        let (named, _) = payload.split_once('.').unwrap();
        assert!(!key.is_known(&format!("{named}.99999999999.{signature}"), user), "nor the expiry");
        let expired = format!("{user}.1");
        let signature = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            hmac::Mac::finalize(key.mac(&expired)).into_bytes(),
        );
        assert!(!key.is_known(&format!("{expired}.{signature}"), user), "expired");
        for junk in ["", ".", "..", "a.b.c", "x.y"] {
            assert!(!key.is_known(junk, user));
        }
    }
}
