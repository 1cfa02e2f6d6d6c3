//! Cross-site WebSocket hijacking: a page on any site can open a socket to
//! this server, and the browser sends the user's cookies with it. Browsers
//! always send `Origin` on a WebSocket handshake, so a handshake whose
//! origin is neither this server's own (its `Host`) nor in
//! `allowed_origins` is refused with 403 before the 101. Clients that are not
//! browsers send no `Origin` and are not affected.

use axum::http::HeaderMap;
use axum::http::header;

/// Whether a handshake with these headers may proceed. `host` is the host
/// the client asked for: the `Host` header, or `X-Forwarded-Host` from a
/// trusted proxy.
pub(crate) fn allowed(
    headers: &HeaderMap,
    host: Option<&str>,
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
    host.is_some_and(|host| same_host(origin, host))
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

/// Whether `origin` (`scheme://host[:port]`) names `host` (`host[:port]`),
/// a port the scheme implies being the same as none.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return authority.eq_ignore_ascii_case(host),
    };
    let strip = |a: &str| -> String { a.strip_suffix(default).unwrap_or(a).to_ascii_lowercase() };
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
    fn own_host_and_no_origin_pass() {
        assert!(allowed(&HeaderMap::new(), Some("chat.example"), NONE));
        assert!(allowed(
            &with_origin("https://chat.example"),
            Some("chat.example"),
            NONE
        ));
        assert!(allowed(
            &with_origin("https://chat.example"),
            Some("chat.example:443"),
            NONE
        ));
        assert!(allowed(
            &with_origin("http://127.0.0.1:3000"),
            Some("127.0.0.1:3000"),
            NONE
        ));
        assert!(allowed(
            &with_origin("HTTP://Chat.Example"),
            Some("chat.example"),
            NONE
        ));
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
                !allowed(&with_origin(origin), Some("chat.example"), NONE),
                "{origin}"
            );
        }
        assert!(!allowed(
            &with_origin("http://127.0.0.1:3001"),
            Some("127.0.0.1:3000"),
            NONE
        ));
        assert!(!allowed(&with_origin("https://chat.example"), None, NONE));
    }

    #[test]
    fn the_list_widens_it() {
        let list = ["https://app.example", "https://*.example.org"];
        assert!(allowed(
            &with_origin("https://app.example"),
            Some("api.example"),
            &list
        ));
        assert!(allowed(
            &with_origin("https://a.b.example.org"),
            Some("api.example"),
            &list
        ));
        assert!(!allowed(
            &with_origin("https://example.org"),
            Some("api.example"),
            &list
        ));
        assert!(!allowed(
            &with_origin("http://a.example.org"),
            Some("api.example"),
            &list
        ));
        assert!(!allowed(
            &with_origin("https://evilexample.org"),
            Some("api.example"),
            &list
        ));
        assert!(allowed(
            &with_origin("https://anything"),
            Some("api.example"),
            &["*"]
        ));
    }
}
