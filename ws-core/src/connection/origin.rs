//! Cross-site WebSocket hijacking: a page on any site can open a socket to
//! this server, and the browser sends the user's cookies with it. Browsers
//! always send `Origin` on a WebSocket handshake, so a handshake whose
//! origin is neither this server's own nor in `allowed_origins` is refused
//! with 403 before the 101. Clients that are not browsers send no `Origin`
//! and are not affected.
//!
//! The server's own origin is an RFC 6454 origin: scheme, host and port,
//! all three compared. The host (and port) is the one the client asked for
//! (`Host`, or `X-Forwarded-Host` from a trusted proxy); the scheme is
//! `https` when `ws_core::serve` terminated TLS itself or a trusted proxy
//! says so in `X-Forwarded-Proto`, and `http` otherwise. So an `https://`
//! page of the host cannot open a socket on its plain-HTTP port, nor an
//! `http://` page (which a network attacker can write) one served over TLS.

use axum::http::HeaderMap;
use axum::http::header;

/// The scheme the client reached the server with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// `X-Forwarded-Proto`'s value (its right-most, set by the nearest
    /// proxy): `https` or `wss` is TLS, anything else is not.
    pub(crate) fn forwarded(value: &str) -> Scheme {
        let proto = value.rsplit(',').next().unwrap_or_default().trim();
        if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> &'static str {
        match self {
            Scheme::Http => "80",
            Scheme::Https => "443",
        }
    }
}

/// Whether a handshake with these headers may proceed. `host` is the host
/// the client asked for (the `Host` header, or `X-Forwarded-Host` from a
/// trusted proxy) and `scheme` how it reached the server.
pub(crate) fn allowed(
    headers: &HeaderMap,
    host: Option<&str>,
    scheme: Scheme,
    allowed: &[impl AsRef<str>],
) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|pattern| matches(pattern.as_ref(), origin))
    {
        return true;
    }
    host.is_some_and(|host| same_origin(origin, scheme, host))
}

/// `*` matches any origin; `https://*.example.com` any subdomain of
/// example.com over https; anything else the origin exactly (ASCII case
/// folded, as origins are).
fn matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some((scheme, domain)) = pattern.split_once("://*.") {
        return origin
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .and_then(|host| {
                host.len()
                    .checked_sub(domain.len() + 1)
                    .map(|cut| host.split_at(cut))
            })
            .is_some_and(|(sub, tail)| {
                !sub.is_empty() && tail.eq_ignore_ascii_case(&format!(".{domain}"))
            });
    }
    pattern.eq_ignore_ascii_case(origin)
}

/// Whether `origin` (`scheme://host[:port]`) is the server's own: the same
/// scheme, and the same host and port as `host` (`host[:port]`, the port
/// defaulting to the scheme's).
fn same_origin(origin: &str, scheme: Scheme, host: &str) -> bool {
    let Some((origin_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme.name()) {
        return false;
    }
    let port = format!(":{}", scheme.default_port());
    let strip = |a: &str| -> String { a.strip_suffix(&port).unwrap_or(a).to_ascii_lowercase() };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers
    }

    const NONE: &[&str] = &[];

    #[test]
    fn own_origin_and_no_origin_pass() {
        use Scheme::{Http, Https};
        assert!(allowed(&HeaderMap::new(), Some("chat.example"), Http, NONE));
        for (origin, host, scheme) in [
            ("https://chat.example", "chat.example", Https),
            ("https://chat.example", "chat.example:443", Https),
            ("https://chat.example:443", "chat.example", Https),
            ("http://chat.example", "chat.example:80", Http),
            ("http://127.0.0.1:3000", "127.0.0.1:3000", Http),
            ("HTTP://Chat.Example", "chat.example", Http),
        ] {
            assert!(
                allowed(&with_origin(origin), Some(host), scheme, NONE),
                "{origin} on {scheme:?} {host}"
            );
        }
    }

    /// RFC 6454: the scheme is part of the origin, and so is the port the
    /// scheme implies.
    #[test]
    fn another_scheme_of_the_same_host_is_another_origin() {
        use Scheme::{Http, Https};
        for (origin, host, scheme) in [
            ("https://127.0.0.1:3000", "127.0.0.1:3000", Http),
            ("http://chat.example", "chat.example", Https),
            ("http://chat.example:443", "chat.example", Https),
            ("https://chat.example:80", "chat.example", Http),
            ("https://chat.example", "chat.example:80", Https),
            ("ws://chat.example", "chat.example", Http),
            ("ftp://chat.example", "chat.example", Http),
        ] {
            assert!(
                !allowed(&with_origin(origin), Some(host), scheme, NONE),
                "{origin} on {scheme:?} {host}"
            );
        }
        assert_eq!(Scheme::forwarded("https"), Https);
        assert_eq!(Scheme::forwarded("http, HTTPS"), Https);
        assert_eq!(Scheme::forwarded("https, http"), Http);
        assert_eq!(Scheme::forwarded("wss"), Https);
        assert_eq!(Scheme::forwarded("gopher"), Http);
    }

    #[test]
    fn other_sites_are_refused() {
        for origin in [
            "https://evil.example",
            "https://chat.example.evil.example",
            "http://127.0.0.1:3001",
            "null",
            "chat.example",
        ] {
            assert!(
                !allowed(
                    &with_origin(origin),
                    Some("chat.example"),
                    Scheme::Https,
                    NONE
                ),
                "{origin}"
            );
        }
        assert!(!allowed(
            &with_origin("http://127.0.0.1:3001"),
            Some("127.0.0.1:3000"),
            Scheme::Http,
            NONE
        ));
        assert!(!allowed(
            &with_origin("https://chat.example"),
            None,
            Scheme::Https,
            NONE
        ));
    }

    #[test]
    fn the_list_widens_it() {
        let list = ["https://app.example", "https://*.example.org"];
        assert!(allowed(
            &with_origin("https://app.example"),
            Some("api.example"),
            Scheme::Https,
            &list
        ));
        assert!(allowed(
            &with_origin("https://a.b.example.org"),
            Some("api.example"),
            Scheme::Https,
            &list
        ));
        assert!(!allowed(
            &with_origin("https://example.org"),
            Some("api.example"),
            Scheme::Https,
            &list
        ));
        assert!(!allowed(
            &with_origin("http://a.example.org"),
            Some("api.example"),
            Scheme::Https,
            &list
        ));
        assert!(!allowed(
            &with_origin("https://evilexample.org"),
            Some("api.example"),
            Scheme::Https,
            &list
        ));
        assert!(allowed(
            &with_origin("https://anything"),
            Some("api.example"),
            Scheme::Https,
            &["*"]
        ));
    }
}
