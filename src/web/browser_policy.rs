//! What every response tells the browser to refuse: scripts, styles and
//! frames from anywhere but this site, being framed by another site, sniffed
//! content types, leaked addresses (tracking links carry tokens), and — behind
//! https — ever talking to us in clear again.
//!
//! One set of headers, added to every response that does not set its own
//! (`DefaultHeaders` only fills in what is missing). The kiosk preview is the
//! one page that sets its own: the console frames it, sandboxed.

use actix_web::middleware::DefaultHeaders;

use crate::settings::Settings;

/// The directives every page shares. Scripts and styles only from our own
/// files: no inline `<script>`, no `onclick=`, no `style=` attributes, no
/// `eval`. hls.js plays through MSE (`blob:` media) and demuxes in a worker
/// it starts from a `blob:` URL; QR codes and favicons are inline SVG or
/// `data:` images.
const SHARED: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'";

/// The Content-Security-Policy of every page. `public_url` names the chat
/// WebSocket's origin for browsers that do not count `ws:`/`wss:` of our own
/// host as `'self'` yet (Safari before 15.4).
pub fn content_security_policy(public_url: &str) -> String {
    let socket = socket_origin(public_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!("{SHARED}; connect-src 'self'{socket}; form-action 'self'; frame-ancestors 'none'")
}

/// The policy of the kiosk preview (`/kiosk/preview/{notice}`): framed only
/// by the console of this site, and sandboxed even when opened on its own,
/// so that a notice being reviewed can never act as the staff member
/// reviewing it. It runs the kiosk client and nothing else: no forms, no
/// workers.
pub const PREVIEW_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'none'; \
     object-src 'none'; base-uri 'none'; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'self'; sandbox allow-scripts";

/// The `sandbox` attribute of the console's preview frames: scripts for the
/// kiosk client, but an opaque origin (no `allow-same-origin`), so nothing in
/// the frame can read the console, its cookies or its form token.
pub const PREVIEW_FRAME_SANDBOX: &str = "allow-scripts";

/// One year, the usual HSTS lifetime; subdomains are not ours to promise.
const HSTS: &str = "max-age=31536000";

/// The headers, wired once in `startup.rs` for every response.
pub fn default_headers(settings: &Settings) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            content_security_policy(&settings.server.public_url),
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        // Tracking links and setup links carry tokens in their paths.
        .add(("Referrer-Policy", "same-origin"))
        // `frame-ancestors` for browsers that predate it.
        .add(("X-Frame-Options", "DENY"));
    if is_https(&settings.server.public_url) {
        headers.add(("Strict-Transport-Security", HSTS))
    } else {
        // Over plain http browsers ignore it, and a site reached by its
        // address in a test or a LAN must not be pinned to https.
        headers
    }
}

fn is_https(public_url: &str) -> bool {
    public_url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// `wss://host[:port]` for an https public URL, `ws://…` for http.
fn socket_origin(public_url: &str) -> Option<String> {
    let (scheme, rest) = public_url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    {
        return None;
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Some(format!("wss://{host}")),
        "http" => Some(format!("ws://{host}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_allows_only_our_own_scripts_and_no_framing() {
        let policy = content_security_policy("https://yi.example.org/");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "style-src 'self';",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "connect-src 'self' wss://yi.example.org;",
        ] {
            assert!(policy.contains(directive), "{directive} missing: {policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[test]
    fn the_socket_origin_follows_the_public_url() {
        assert_eq!(
            socket_origin("http://127.0.0.1:8080").as_deref(),
            Some("ws://127.0.0.1:8080")
        );
        assert_eq!(
            socket_origin("HTTPS://yi.example.org/pavilion/").as_deref(),
            Some("wss://yi.example.org")
        );
        assert_eq!(socket_origin("yi.example.org"), None);
        assert_eq!(socket_origin("https://a b/"), None);
        assert_eq!(socket_origin("https://a;script-src *"), None);
    }

    #[test]
    fn the_preview_is_sandboxed_and_framed_only_by_us() {
        assert!(PREVIEW_POLICY.ends_with("sandbox allow-scripts"));
        assert!(PREVIEW_POLICY.contains("frame-ancestors 'self'"));
        assert!(!PREVIEW_POLICY.contains("allow-same-origin"));
        assert!(!PREVIEW_FRAME_SANDBOX.contains("allow-same-origin"));
    }

    #[test]
    fn hsts_only_behind_https() {
        assert!(is_https("https://yi.example.org"));
        assert!(is_https("HTTPS://yi.example.org"));
        assert!(!is_https("http://yi.example.org"));
        assert!(!is_https("http"));
    }
}
