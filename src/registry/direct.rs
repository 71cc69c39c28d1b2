//! Large blob downloads over plain HTTP, read from the socket straight into the caller's
//! buffer.
//!
//! `reqwest` receives every body into buffers of its own, on its runtime thread, and a blocking
//! read copies each piece out again. For the loopback and `--plain-http` registries of an air
//! gap, that copy and the hand-off between threads cost as much as a tenth of a download's CPU
//! time (`docs/performance.md`, "Registries"). So a blob GET to a plain-HTTP registry first
//! tries one request of its own on a new connection. It accepts only the plainest answer:
//! `200`, `Content-Length` equal to the size the descriptor gives, no transfer or content
//! encoding. Anything else (an auth challenge, a redirect, an error, chunked framing, a head
//! that is too large or malformed) is declined, and the caller sends the request again through
//! `reqwest`, which handles all of those. The body is digest-checked by the caller like any
//! other.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::HeaderValue;

/// Blobs smaller than this go through `reqwest` (and its pooled connections): a new connection
/// per blob only pays off for large ones.
pub(crate) const MIN_BYTES: u64 = 1 << 20;
/// The response head may be no larger.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Response headers, at most.
const MAX_HEADERS: usize = 64;
/// Connecting to one address may take no longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A read of the body that waits this long fails (and the copy opens the blob again); the
/// whole response head must arrive within it, counted from when the request was written.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Proxy variables `reqwest` honours: with any of them set, requests go through it alone.
const PROXY_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

/// What one direct attempt gave.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A `200` with the expected length: the body follows.
    Body(DirectBody),
    /// Not an answer this path takes; the reason is for the debug log.
    Declined(String),
}

/// Whether a direct GET may be tried at all: a plain-HTTP URL and no proxy configured.
pub(crate) fn applies(url: &Url) -> bool {
    url.scheme() == "http"
        && PROXY_VARS
            .iter()
            .all(|v| std::env::var_os(v).is_none_or(|s| s.is_empty()))
}

/// Sends `GET url` with `headers` on a new connection and reads the response head. `size` is
/// the length the body must have. Connection failures are `Declined` too: the `reqwest` path
/// retries them with backoff and reports them.
pub(crate) fn get(url: &Url, headers: &[(&str, &str)], size: u64) -> Attempt {
    get_within(url, headers, size, READ_TIMEOUT)
}

/// As [`get`], with `timeout` in place of [`READ_TIMEOUT`].
fn get_within(url: &Url, headers: &[(&str, &str)], size: u64, timeout: Duration) -> Attempt {
    match try_get(url, headers, size, timeout) {
        Ok(attempt) => attempt,
        Err(e) => Attempt::Declined(e.to_string()),
    }
}

fn try_get(
    url: &Url,
    headers: &[(&str, &str)],
    size: u64,
    timeout: Duration,
) -> io::Result<Attempt> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Ok(Attempt::Declined("the URL names no host".into()));
    };
    let mut request = format!("GET {}", url.path());
    if let Some(query) = url.query() {
        request.push('?');
        request.push_str(query);
    }
    request.push_str(" HTTP/1.1\r\nHost: ");
    request.push_str(host);
    if url.port().is_some() {
        request.push_str(&format!(":{port}"));
    }
    request.push_str("\r\n");
    for (name, value) in headers
        .iter()
        .chain(&[("Accept-Encoding", "identity"), ("Connection", "close")])
    {
        // Values from elsewhere (a token server's token) must not add lines to the request:
        // `HeaderValue` refuses CR, LF and every other control character except tab.
        if HeaderValue::from_str(value).is_err() {
            return Ok(Attempt::Declined(format!(
                "header {name} is not a plain value"
            )));
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");

    let mut stream = connect(host, port)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;

    // The whole head must arrive in time, not just each piece of it: a registry that trickles
    // it a byte at a time is declined too.
    let deadline = Instant::now() + timeout;
    let late = || {
        Attempt::Declined(format!(
            "the response head did not arrive within {}",
            seconds(timeout)
        ))
    };
    let mut head = vec![0u8; MAX_HEAD_BYTES];
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(late());
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut head[filled..]) {
            Ok(n) => n,
            Err(e) if timed_out(&e) => return Ok(late()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(Attempt::Declined(
                "the connection closed before the response head ended".into(),
            ));
        }
        filled += n;
        let mut parsed = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut parsed);
        match response.parse(&head[..filled]) {
            Ok(httparse::Status::Complete(len)) => {
                if let Err(why) = judge(&response, size) {
                    return Ok(Attempt::Declined(why));
                }
                // Each read of the body may wait the whole timeout.
                stream.set_read_timeout(Some(timeout))?;
                head.truncate(filled);
                return Ok(Attempt::Body(DirectBody {
                    stream,
                    buffered: head,
                    pos: len,
                    remaining: size,
                    size,
                    timeout,
                }));
            }
            Ok(httparse::Status::Partial) if filled < head.len() => {}
            Ok(httparse::Status::Partial) => {
                return Ok(Attempt::Declined(format!(
                    "the response head is larger than {MAX_HEAD_BYTES} bytes"
                )));
            }
            Err(e) => return Ok(Attempt::Declined(format!("malformed response head: {e}"))),
        }
    }
}

/// Connects to the first address of `host` that answers.
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    // `host_str` keeps IPv6 brackets; the resolver wants the bare address.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = None;
    for addr in (bare, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other(format!("{host} has no address"))))
}

/// Whether a read failed because its timeout passed (`SO_RCVTIMEO` gives `EAGAIN`).
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// `d` for a message: "120 s", or "0.3 s" for the short timeouts of tests.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `value` without the spaces and tabs HTTP allows around it (and nothing else).
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// A `Content-Length` value: ASCII digits and nothing else (no sign, no other space).
fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Accepts a `200` whose body is exactly `size` raw bytes, or says why not.
fn judge(response: &httparse::Response<'_, '_>, size: u64) -> Result<(), String> {
    if response.code != Some(200) {
        return Err(format!("status {}", response.code.unwrap_or(0)));
    }
    let mut length = None;
    for h in response.headers.iter() {
        let raw = trim_ows(h.value);
        let value = String::from_utf8_lossy(raw);
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("Transfer-Encoding {value}"));
        }
        if h.name.eq_ignore_ascii_case("content-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(format!("Content-Encoding {value}"));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length(raw).ok_or_else(|| format!("Content-Length {value:?}"))?;
            match length {
                // Exactly one: a second is declined even when it agrees.
                Some(l) if l == n => return Err("a second Content-Length header".into()),
                Some(_) => return Err("two different Content-Length headers".into()),
                None => length = Some(n),
            }
        }
    }
    match length {
        Some(n) if n == size => Ok(()),
        Some(n) => Err(format!("Content-Length {n}, not the {size} bytes expected")),
        None => Err("no Content-Length".into()),
    }
}

/// A response body of known length, read from the connection.
#[derive(Debug)]
pub(crate) struct DirectBody {
    stream: TcpStream,
    /// The head's read buffer: the body's first bytes are at `pos..`.
    buffered: Vec<u8>,
    pos: usize,
    /// Body bytes not yet returned.
    remaining: u64,
    size: u64,
    /// How long one read may wait (for its error message).
    timeout: Duration,
}

impl Read for DirectBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let cap = out
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = if self.pos < self.buffered.len() {
            let n = cap.min(self.buffered.len() - self.pos);
            out[..n].copy_from_slice(&self.buffered[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.buffered.len() {
                // The head buffer has served its purpose.
                self.buffered = Vec::new();
                self.pos = 0;
            }
            n
        } else {
            match self.stream.read(&mut out[..cap]) {
                Ok(n) => n,
                // Not "Resource temporarily unavailable": say what happened, and where.
                Err(e) if timed_out(&e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the registry sent nothing for {} after {} of {} bytes",
                            seconds(self.timeout),
                            self.size - self.remaining,
                            self.size
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the registry closed the connection after {} of {} bytes",
                    self.size - self.remaining,
                    self.size
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// Serves one connection: reads the request head, answers `response`, and returns the
    /// request it saw.
    fn serve_once(response: Vec<u8>) -> (Url, thread::JoinHandle<String>) {
        serve(move |conn| {
            // The client may have gone already (a declined answer); that is fine.
            let _ = conn.write_all(&response);
        })
    }

    /// Serves one connection: reads the request head, lets `answer` write to the connection,
    /// and returns the request it saw.
    fn serve(
        answer: impl FnOnce(&mut TcpStream) + Send + 'static,
    ) -> (Url, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                if conn.read(&mut byte).expect("read request") == 0 {
                    break;
                }
                request.push(byte[0]);
            }
            answer(&mut conn);
            String::from_utf8(request).expect("utf-8 request")
        });
        let url =
            Url::parse(&format!("http://127.0.0.1:{port}/v2/a/b/blobs/sha256:00")).expect("url");
        (url, handle)
    }

    fn declined(response: &[u8], size: u64) -> String {
        let (url, server) = serve_once(response.to_vec());
        let attempt = get(&url, &[], size);
        server.join().expect("server");
        match attempt {
            Attempt::Declined(why) => why,
            Attempt::Body(_) => panic!("accepted {:?}", String::from_utf8_lossy(response)),
        }
    }

    #[test]
    fn a_plain_200_is_read_to_exactly_its_length() {
        let body = b"hello, blob";
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(body);
        // Bytes past the body are not part of it.
        response.extend_from_slice(b"TRAILING");
        let (url, server) = serve_once(response);
        let Attempt::Body(mut b) = get(&url, &[("Authorization", "Bearer t0k")], 11) else {
            panic!("declined a plain 200");
        };
        let mut got = Vec::new();
        b.read_to_end(&mut got).expect("read body");
        assert_eq!(got, body);
        let request = server.join().expect("server");
        assert!(
            request.starts_with("GET /v2/a/b/blobs/sha256:00 HTTP/1.1\r\n"),
            "{request}"
        );
        for line in [
            "Host: 127.0.0.1:",
            "Authorization: Bearer t0k\r\n",
            "Connection: close\r\n",
            "Accept-Encoding: identity\r\n",
        ] {
            assert!(request.contains(line), "{line:?} missing from {request:?}");
        }
    }

    #[test]
    fn a_body_cut_short_is_an_error_naming_how_much_arrived() {
        let (url, server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec());
        let Attempt::Body(mut b) = get(&url, &[], 100) else {
            panic!("declined a plain 200");
        };
        server.join().expect("server");
        let err = b.read_to_end(&mut Vec::new()).expect_err("short body");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("after 9 of 100 bytes"), "{err}");
    }

    #[test]
    fn anything_but_the_plainest_answer_is_declined() {
        for (response, size, why) in [
            (
                &b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"[..],
                5,
                "status 401",
            ),
            (
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://x/\r\n\r\n",
                5,
                "status 307",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                5,
                "Transfer-Encoding chunked",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\n\r\nhello",
                5,
                "Content-Encoding gzip",
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nhello", 5, "no Content-Length"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!",
                5,
                "Content-Length 6, not the 5 bytes expected",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                5,
                "two different Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
                5,
                "Content-Length \"-5\"",
            ),
            // Only ASCII digits: no sign, no space but ASCII space and tab around them.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
                5,
                "Content-Length \"+5\"",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: \xc2\xa05\r\n\r\nhello",
                5,
                "Content-Length \"",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello",
                5,
                "Content-Length \"5 5\"",
            ),
            // Exactly one Content-Length, even when a second agrees.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length:\t5\r\n\r\nhello",
                5,
                "a second Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-",
                5,
                "closed before the response head ended",
            ),
            (b"NOT HTTP AT ALL\r\n\r\n", 5, "malformed response head"),
        ] {
            let got = declined(response, size);
            assert!(got.contains(why), "{got:?} should say {why:?}");
        }
        // A head that never ends within the limit.
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        while huge.len() <= MAX_HEAD_BYTES {
            huge.extend_from_slice(format!("X-Filler: {}\r\n", "a".repeat(1000)).as_bytes());
        }
        let got = declined(&huge, 5);
        assert!(got.contains("larger than"), "{got}");
    }

    #[test]
    fn space_and_tab_around_a_content_length_are_allowed() {
        let (url, server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length:\t 5 \t\r\n\r\nhello".to_vec());
        let Attempt::Body(mut b) = get(&url, &[], 5) else {
            panic!("declined a plain 200");
        };
        let mut got = Vec::new();
        b.read_to_end(&mut got).expect("read body");
        assert_eq!(got, b"hello");
        server.join().expect("server");
    }

    #[test]
    fn a_header_value_that_would_add_lines_is_never_sent() {
        // Nothing listens: a request that went out would fail to connect instead.
        let url = Url::parse("http://127.0.0.1:9/v2/a/blobs/sha256:00").expect("url");
        for value in [
            "Bearer x\r\nX-Evil: 1",
            "Bearer x\ny",
            "Bearer \0",
            "Bearer \x7f",
        ] {
            match get(&url, &[("Authorization", value)], 5) {
                Attempt::Declined(why) => assert!(why.contains("not a plain value"), "{why}"),
                Attempt::Body(_) => panic!("sent a request with an injected header"),
            }
        }
        // A tab is no control character here: the request goes out (and fails to connect).
        match get(&url, &[("Authorization", "Bearer\tx")], 5) {
            Attempt::Declined(why) => assert!(!why.contains("not a plain value"), "{why}"),
            Attempt::Body(_) => panic!("nothing listens"),
        }
    }

    #[test]
    fn a_body_that_stalls_times_out_saying_how_much_arrived() {
        let (url, server) = serve(|conn| {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            // Then nothing, until the client gives up and closes.
            let _ = conn.read(&mut [0u8; 1]);
        });
        let Attempt::Body(mut b) = get_within(&url, &[], 10, Duration::from_millis(300)) else {
            panic!("declined a plain 200");
        };
        let err = b.read_to_end(&mut Vec::new()).expect_err("a stalled body");
        drop(b);
        server.join().expect("server");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(
            err.to_string(),
            "the registry sent nothing for 0.3 s after 3 of 10 bytes"
        );
    }

    #[test]
    fn a_response_head_must_arrive_within_the_timeout_however_it_trickles() {
        // Each byte comes well within the timeout, the whole head does not.
        let (url, server) = serve(|conn| {
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Slow: yes\r\n\r\nx" {
                if conn.write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(25));
            }
        });
        let started = Instant::now();
        let attempt = get_within(&url, &[], 1, Duration::from_millis(300));
        let took = started.elapsed();
        match attempt {
            Attempt::Declined(why) => assert!(
                why.contains("the response head did not arrive within 0.3 s"),
                "{why}"
            ),
            Attempt::Body(_) => panic!("accepted a head that took {took:?}"),
        }
        assert!(took < Duration::from_secs(1), "took {took:?}");
        server.join().expect("server");
    }

    #[test]
    fn only_plain_http_urls_apply() {
        assert!(!applies(&Url::parse("https://r.example/v2/").expect("url")));
        if PROXY_VARS.iter().all(|v| std::env::var_os(v).is_none()) {
            assert!(applies(
                &Url::parse("http://127.0.0.1:5000/v2/").expect("url")
            ));
        }
    }
}
