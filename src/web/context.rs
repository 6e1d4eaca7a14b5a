//! What every page needs to know about the request: who is asking, in which
//! language, and the form token that proves a form came from us.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::accounts::tokens;
use crate::domain::{Account, Permission};
use crate::feedback::notifications;
use crate::i18n::Lang;
use crate::settings::ServerSettings;

use super::error::WebError;
use super::AppState;

pub const SESSION_COOKIE: &str = "pavilion_session";
pub const CSRF_COOKIE: &str = "pavilion_csrf";
pub const LANG_COOKIE: &str = "pavilion_lang";

/// The request's viewer, language and form token. Loaded once per request.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub viewer: Option<Account>,
    /// The session's (or visitor's) form token. Private: pages carry it only
    /// masked, fresh per rendering (`form_token`), never as it is.
    form_secret: String,
    /// Path and query, to come back to after logging in or switching language.
    pub here: String,
    pub time_zone: chrono_tz::Tz,
    /// A resident's records with news they have not seen (the "我的诉求"
    /// badge); always 0 for everyone else.
    pub unread_records: i64,
}

/// The anonymous form token from the `pavilion_csrf` cookie, or a fresh one.
#[derive(Clone)]
struct AnonymousFormToken(String);

impl Ctx {
    pub async fn load(req: &HttpRequest) -> Result<Ctx, WebError> {
        if let Some(ctx) = req.extensions().get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered");
        let session = match req.cookie(SESSION_COOKIE) {
            Some(cookie) => state.accounts.session(cookie.value()).await?,
            None => None,
        };
        let (viewer, form_secret) = match session {
            Some((session, account)) => (Some(account), session.csrf_token),
            None => {
                let anonymous = req
                    .extensions()
                    .get::<AnonymousFormToken>()
                    .map(|t| t.0.clone());
                (None, anonymous.unwrap_or_default())
            }
        };
        let lang = viewer
            .as_ref()
            .and_then(|a| a.locale.as_deref())
            .and_then(Lang::parse)
            .unwrap_or_else(|| request_lang(req));
        // One small indexed query, for residents only.
        let unread_records = match &viewer {
            Some(account) => notifications::badge_count(state.store.as_ref(), account).await,
            None => 0,
        };
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        let ctx = Ctx {
            lang,
            viewer,
            form_secret,
            here,
            time_zone: state.settings.time_zone,
            unread_records,
        };
        req.extensions_mut().insert(ctx.clone());
        Ok(ctx)
    }

    pub fn t(&self, key: &str) -> std::borrow::Cow<'static, str> {
        self.lang.t(key)
    }

    /// A moment as people here read it: local date and time, to the second.
    pub fn local_time(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        at.with_timezone(&self.time_zone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// A context for rendering without a request (unit tests of views).
    #[cfg(test)]
    pub fn bare(lang: Lang, here: &str) -> Ctx {
        Ctx {
            lang,
            viewer: None,
            form_secret: String::new(),
            here: here.to_owned(),
            time_zone: chrono_tz::Asia::Shanghai,
            unread_records: 0,
        }
    }

    /// The same request as seen once the viewer's session has ended (after
    /// closing their account): no viewer, no badge, no form token.
    pub fn signed_out(&self) -> Ctx {
        Ctx {
            viewer: None,
            form_secret: String::new(),
            unread_records: 0,
            ..self.clone()
        }
    }

    /// The form token for one place in one response: masked afresh on every
    /// call, so that no two renderings carry the same string (see
    /// `tokens::mask`). Forms and the chat's `X-CSRF-Token` send it back.
    pub fn form_token(&self) -> String {
        tokens::mask(&self.form_secret)
    }

    /// Everything of this request that the page frame shows (header,
    /// language, account links, badge, which form token), as a string that
    /// changes whenever the frame would: for validators (`ETag`) of pages
    /// whose body is otherwise shared. The token only as its fingerprint.
    pub fn frame_key(&self) -> String {
        let viewer = self.viewer.as_ref().map(|a| {
            format!(
                "{}:{}:{}:{}",
                a.id.0,
                a.role.as_str(),
                a.display_name,
                a.locale.as_deref().unwrap_or("")
            )
        });
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.lang.code(),
            self.here,
            viewer.unwrap_or_default(),
            self.unread_records,
            tokens::fingerprint(&self.form_secret)
        )
    }

    /// Checks a submitted (masked) form token against this viewer's.
    pub fn check_form_token(&self, submitted: &str) -> Result<(), WebError> {
        if !tokens::masked_matches(&self.form_secret, submitted) {
            return Err(WebError::Csrf);
        }
        Ok(())
    }
}

impl FromRequest for Ctx {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ctx::load(&req).await })
    }
}

/// Language without a session: the language cookie, then `Accept-Language`, then Chinese.
pub fn request_lang(req: &HttpRequest) -> Lang {
    if let Some(ctx) = req.extensions().get::<Ctx>() {
        return ctx.lang;
    }
    req.cookie(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::negotiate)
        })
        .unwrap_or_default()
}

/// The caller's address for throttling: the TCP peer, unless the peer is one
/// of our trusted reverse proxies; then the right-most address in
/// `X-Forwarded-For` that is not a trusted proxy, since everything left of it
/// was written by the client and proves nothing.
pub fn client_address(req: &HttpRequest, server: &ServerSettings) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip().to_canonical()) else {
        return "unknown".to_owned();
    };
    if !server.is_trusted_proxy(peer) {
        return peer.to_string();
    }
    let chain: Option<Vec<&str>> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().ok())
        .collect();
    match chain {
        Some(chain) => forwarded_client(peer, &chain, |ip| server.is_trusted_proxy(ip)),
        None => peer,
    }
    .to_string()
}

/// Walks `X-Forwarded-For` (every header line, in order) from the right,
/// past trusted proxies, to the first address they vouch for. A malformed
/// entry on that walk means the chain cannot be read: the peer is used.
pub fn forwarded_client(
    peer: IpAddr,
    header_lines: &[&str],
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut client = peer;
    let entries = header_lines.iter().flat_map(|line| line.split(',')).rev();
    for entry in entries {
        let Some(ip) = forwarded_address(entry) else {
            return peer;
        };
        client = ip;
        if !trusted(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:5000`, `2001:db8::1` or `[2001:db8::1]:5000`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })?;
    Some(ip.to_canonical())
}

pub fn session_cookie(token: String, secure: bool, max_age_hours: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::hours(max_age_hours))
        .finish()
}

pub fn expired_session_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// Gives every visitor without one an anonymous form token cookie, so that the
/// login and registration forms are protected like every other form.
pub async fn ensure_form_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let existing = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32);
    let fresh = existing.is_none().then(tokens::random_token);
    let token = existing.or_else(|| fresh.clone()).unwrap_or_default();
    req.extensions_mut().insert(AnonymousFormToken(token));
    let secure = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.secure_cookies());
    let mut res = next.call(req).await?;
    if let Some(token) = fresh {
        let is_page = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if is_page {
            let cookie = Cookie::build(CSRF_COOKIE, token)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .finish();
            res.response_mut().add_cookie(&cookie)?;
        }
    }
    Ok(res)
}

/// Lets the request through only if the viewer's role has `permission`:
/// anonymous viewers are sent to log in, others get 403. The refusal is a
/// response, not an error, so that the error pages render it like any other.
pub async fn authorize(
    permission: Permission,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let ctx = match Ctx::load(req.request()).await {
        Ok(ctx) => ctx,
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    let refusal = match &ctx.viewer {
        None => WebError::LoginRequired { next: ctx.here },
        Some(account) if !account.role.can(permission) => {
            tracing::info!(
                account = account.username,
                ?permission,
                path = req.path(),
                "forbidden"
            );
            WebError::Forbidden
        }
        Some(_) => return Ok(next.call(req).await?.map_into_left_body()),
    };
    Ok(req.error_response(refusal).map_into_right_body())
}

/// A logged-in staff member; only usable behind `authorize`.
pub struct Staff {
    pub ctx: Ctx,
    pub account: Account,
}

impl Staff {
    pub fn actor(&self) -> crate::domain::Actor {
        crate::domain::Actor {
            id: Some(self.account.id),
            name: self.account.username.clone(),
        }
    }
}

impl FromRequest for Staff {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = Ctx::load(&req).await?;
            match ctx.viewer.clone() {
                Some(account) if account.role.is_staff() => Ok(Staff { ctx, account }),
                Some(_) => Err(WebError::Forbidden),
                None => Err(WebError::LoginRequired { next: ctx.here }),
            }
        })
    }
}

/// A logged-in account of any role.
pub struct SignedIn {
    pub ctx: Ctx,
    pub account: Account,
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let ctx = Ctx::load(&req).await?;
            match ctx.viewer.clone() {
                Some(account) => Ok(SignedIn { ctx, account }),
                None => Err(WebError::LoginRequired { next: ctx.here }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: &str, lines: &[&str]) -> String {
        let trusted =
            ["10.0.0.0/8", "::1"].map(|n| crate::settings::ProxyNetwork::parse(n).unwrap());
        forwarded_client(peer.parse().unwrap(), lines, |ip| {
            trusted.iter().any(|n| n.contains(ip))
        })
        .to_string()
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        assert_eq!(client("10.0.0.1", &["203.0.113.7"]), "203.0.113.7");
        // The client wrote the left part itself; our proxy appended the right.
        assert_eq!(client("10.0.0.1", &["1.1.1.1, 203.0.113.7"]), "203.0.113.7");
        assert_eq!(
            client("10.0.0.1", &["1.1.1.1", "203.0.113.7"]),
            "203.0.113.7"
        );
        // Trusted proxies in the chain are skipped.
        assert_eq!(
            client("10.0.0.1", &["1.1.1.1, 203.0.113.7, 10.9.9.9"]),
            "203.0.113.7"
        );
        assert_eq!(client("10.0.0.1", &["198.51.100.2:5000"]), "198.51.100.2");
        assert_eq!(client("10.0.0.1", &["[2001:db8::7]:443"]), "2001:db8::7");
        assert_eq!(client("10.0.0.1", &["2001:db8::7"]), "2001:db8::7");
        assert_eq!(client("10.0.0.1", &["::ffff:192.0.2.9"]), "192.0.2.9");
        // Everything trusted: the farthest proxy.
        assert_eq!(client("10.0.0.1", &["10.0.0.3, 10.0.0.2"]), "10.0.0.3");
    }

    #[test]
    fn a_malformed_chain_falls_back_to_the_peer() {
        assert_eq!(client("10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &[""]), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &["1.1.1.1, unknown"]), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &["203.0.113.7, _hidden"]), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &["for=203.0.113.7"]), "10.0.0.1");
        // Garbage left of the first untrusted address is never read.
        assert_eq!(client("10.0.0.1", &["garbage, 203.0.113.7"]), "203.0.113.7");
    }
}
