//! Tests of the `ws://` / `wss://` URL parser (`fawkes_core::url`): the parts, the defaults,
//! the `Host` header, and one test per refused input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fawkes_core::url::{Scheme, Url, UrlError};

fn parse(url: &str) -> Url<'_> {
    Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[test]
fn parts_of_a_full_url() {
    let url = parse("ws://127.0.0.1:4000/socket/websocket?token=a%20b&x=1+2");
    assert_eq!(url.scheme(), Scheme::Ws);
    assert_eq!(url.host(), "127.0.0.1");
    assert_eq!(url.hostname(), "127.0.0.1");
    assert_eq!(url.host_ip(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(url.port(), 4000);
    assert!(!url.is_default_port());
    assert_eq!(url.path(), "/socket/websocket");
    assert_eq!(url.query(), "token=a%20b&x=1+2");
    assert_eq!(url.host_header(), "127.0.0.1:4000");
}

#[test]
fn scheme_is_case_insensitive_and_sets_the_default_port() {
    for (text, scheme, port) in [
        ("ws://h/", Scheme::Ws, 80),
        ("WS://h/", Scheme::Ws, 80),
        ("wss://h/", Scheme::Wss, 443),
        ("WsS://h/", Scheme::Wss, 443),
    ] {
        let url = parse(text);
        assert_eq!((url.scheme(), url.port()), (scheme, port), "{text}");
        assert!(url.is_default_port());
        assert_eq!(url.host_header(), "h");
    }
    assert!(Scheme::Wss.is_secure() && !Scheme::Ws.is_secure());
    assert_eq!(Scheme::Wss.as_str(), "wss");
}

#[test]
fn defaults_for_path_and_query() {
    let url = parse("ws://example.com");
    assert_eq!((url.path(), url.query()), ("/", ""));
    let url = parse("ws://example.com?a=1");
    assert_eq!((url.path(), url.query()), ("/", "a=1"));
    let url = parse("ws://example.com/?");
    assert_eq!((url.path(), url.query()), ("/", ""));
    let url = parse("ws://example.com:4000");
    assert_eq!((url.path(), url.port()), ("/", 4000));
    // A `?` after the first belongs to the query.
    let url = parse("ws://h/p?a=?b");
    assert_eq!((url.path(), url.query()), ("/p", "a=?b"));
}

#[test]
fn ipv6_literals_keep_their_brackets_in_the_host() {
    let url = parse("ws://[::1]/socket");
    assert_eq!(
        (url.host(), url.hostname(), url.port()),
        ("[::1]", "::1", 80)
    );
    assert_eq!(url.host_ip(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(url.host_header(), "[::1]");
    let url = parse("wss://[2001:db8::7]:8443/s?x");
    assert_eq!(url.host(), "[2001:db8::7]");
    assert_eq!(url.port(), 8443);
    assert_eq!(url.host_header(), "[2001:db8::7]:8443");
    assert_eq!(parse("ws://example.com/").host_ip(), None);
}

#[test]
fn host_header_drops_a_written_default_port() {
    assert_eq!(parse("ws://h:80/").host_header(), "h");
    assert_eq!(parse("wss://h:443/").host_header(), "h");
    assert_eq!(parse("ws://h:443/").host_header(), "h:443");
    assert_eq!(parse("wss://h:80/").host_header(), "h:80");
    assert_eq!(parse("ws://[::1]:80/").host_header(), "[::1]");
}

#[test]
fn ports_at_the_limits() {
    assert_eq!(parse("ws://h:1/").port(), 1);
    assert_eq!(parse("ws://h:65535/").port(), 65535);
    assert_eq!(parse("ws://h:04000/").port(), 4000);
}

#[test]
fn query_pairs_are_split_but_not_decoded() {
    let url = parse("ws://h/s?token=a%20b&&flag&x=1+2&empty=");
    let pairs: Vec<_> = url.query_pairs().collect();
    assert_eq!(
        pairs,
        [
            ("token", "a%20b"),
            ("flag", ""),
            ("x", "1+2"),
            ("empty", "")
        ]
    );
    assert_eq!(parse("ws://h/").query_pairs().count(), 0);
}

#[test]
fn refused_inputs() {
    let cases: &[(&str, UrlError)] = &[
        ("example.com/socket", UrlError::MissingScheme),
        ("//example.com/", UrlError::MissingScheme),
        ("://example.com/", UrlError::MissingScheme),
        ("ws:/example.com/", UrlError::MissingScheme),
        ("http://example.com/", UrlError::UnsupportedScheme),
        ("https://example.com/", UrlError::UnsupportedScheme),
        ("wsx://example.com/", UrlError::UnsupportedScheme),
        ("ws:///socket", UrlError::EmptyHost),
        ("ws://", UrlError::EmptyHost),
        ("ws://:4000/", UrlError::EmptyHost),
        ("ws://?a=1", UrlError::EmptyHost),
        ("ws://user:pw@example.com/", UrlError::UserInfo),
        ("ws://h:/", UrlError::InvalidPort),
        ("ws://h:0/", UrlError::InvalidPort),
        ("ws://h:65536/", UrlError::InvalidPort),
        ("ws://h:99999999999999999999/", UrlError::InvalidPort),
        ("ws://h:-1/", UrlError::InvalidPort),
        ("ws://h:+80/", UrlError::InvalidPort),
        ("ws://h:8a/", UrlError::InvalidPort),
        ("ws://h:80:81/", UrlError::InvalidPort),
        ("ws://[::1/", UrlError::InvalidHost),
        ("ws://[]/", UrlError::InvalidHost),
        ("ws://[example.com]/", UrlError::InvalidHost),
        ("ws://[::1]x/", UrlError::InvalidHost),
        ("ws://[::1]:0/", UrlError::InvalidPort),
        ("ws://ex]ample/", UrlError::InvalidHost),
        ("ws://h/socket#top", UrlError::Fragment),
        ("ws://h#", UrlError::Fragment),
        ("ws://h/a b", UrlError::InvalidCharacter { offset: 8 }),
        ("ws://h/\r\nX: y", UrlError::InvalidCharacter { offset: 7 }),
        ("ws://hé/", UrlError::InvalidCharacter { offset: 6 }),
        (" ws://h/", UrlError::InvalidCharacter { offset: 0 }),
        ("", UrlError::MissingScheme),
    ];
    for &(text, error) in cases {
        assert_eq!(Url::parse(text), Err(error), "{text:?}");
    }
}

#[test]
fn errors_display_and_are_errors() {
    fn is_error<E: std::error::Error + Copy>(_: E) {}
    is_error(UrlError::Fragment);
    assert_eq!(
        UrlError::InvalidPort.to_string(),
        "the URL port is not a number from 1 to 65535"
    );
    assert!(UrlError::InvalidCharacter { offset: 3 }
        .to_string()
        .contains('3'));
}

#[cfg(feature = "ws")]
#[test]
fn upgrade_request_from_url() {
    use fawkes_core::ws::{Key, RequestError, UpgradeRequest};

    let write = |request: UpgradeRequest<'_>| {
        let mut out = [0u8; 512];
        request
            .write(&mut out)
            .map(|len| String::from_utf8(out[..len].to_vec()).unwrap())
    };
    let key = Key::new([1; 16]);
    let url = parse("ws://[::1]:4000/socket/websocket?token=a%20b");
    let head = write(UpgradeRequest::from_url(&url, key).params(&[("id", "7")])).unwrap();
    assert!(
        head.starts_with("GET /socket/websocket?token=a%20b&id=7&vsn=2.0.0 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: [::1]:4000\r\n"), "{head}");
    // No query, default port.
    let url = parse("ws://example.com");
    let head = write(UpgradeRequest::from_url(&url, key)).unwrap();
    assert!(head.starts_with("GET /?vsn=2.0.0 HTTP/1.1\r\nHost: example.com\r\n"));
    // A raw query set by hand is checked like the path.
    let bad = UpgradeRequest::new("h", "/", key).query("a b");
    assert_eq!(write(bad), Err(RequestError::InvalidQuery));
}
