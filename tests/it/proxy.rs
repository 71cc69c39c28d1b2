//! A forwarding HTTP proxy in front of a real registry, for the few behaviours the registry
//! cannot show by itself: the referrers API (registry 2.8 has none), failures in transit
//! (503s, dropped connections) and tampered answers. Everything it does not intercept goes to
//! the real registry unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// What to do with a request.
pub(crate) enum Action {
    /// Send it to the registry and return its answer.
    Forward,
    /// Send it to the registry, then change the answer: (status, headers, body) in, out.
    ForwardAndEdit(Box<dyn FnOnce(Answer) -> Answer + Send>),
    /// Answer without the registry.
    Respond(Answer),
    /// Close the connection without answering.
    Drop,
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn new(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }
}

type Hook = dyn Fn(&Seen) -> Action + Send + Sync;

/// A running proxy; dropping it stops accepting.
pub(crate) struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`127.0.0.1:PORT`).
    pub(crate) fn start(
        upstream: &str,
        hook: impl Fn(&Seen) -> Action + Send + Sync + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let hook: Arc<Hook> = Arc::new(hook);
        let upstream = upstream.to_owned();
        {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, hook, upstream) = (seen.clone(), hook.clone(), upstream.clone());
                    std::thread::spawn(move || serve(conn, &upstream, &*hook, &seen));
                }
            });
        }
        Proxy { port, seen, stop }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one connection: one request per connection (answers say `Connection: close`).
fn serve(conn: TcpStream, upstream: &str, hook: &Hook, seen: &Mutex<Vec<Seen>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    // A TLS ClientHello (a client probing for HTTPS): this proxy speaks plain HTTP only.
    let mut first = [0u8; 1];
    if conn.peek(&mut first).ok() == Some(1) && first[0] == 0x16 {
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    let mut reader = BufReader::new(conn.try_clone().expect("clone connection"));
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request.clone());
    let answer = match hook(&request) {
        Action::Drop => {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        Action::Respond(a) => a,
        Action::Forward => forward(upstream, &request),
        Action::ForwardAndEdit(edit) => edit(forward(upstream, &request)),
    };
    write_answer(conn, &request, answer);
}

fn read_request(reader: &mut impl BufRead) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

/// Sends the request upstream as HTTP/1.0 (so the answer is never chunked and ends at EOF).
fn forward(upstream: &str, r: &Seen) -> Answer {
    let mut up = TcpStream::connect(upstream).expect("connect to the registry");
    let mut head = format!("{} {} HTTP/1.0\r\n", r.method, r.path);
    for (n, v) in &r.headers {
        if ["connection", "host", "content-length", "transfer-encoding"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    // The client's Host, so the registry's absolute Location headers point back here.
    let host = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or(upstream, |(_, v)| v.as_str());
    head.push_str(&format!(
        "Host: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.body.len()
    ));
    up.write_all(head.as_bytes()).expect("write upstream");
    up.write_all(&r.body).expect("write upstream body");
    let mut raw = Vec::new();
    up.read_to_end(&mut raw).expect("read upstream");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("upstream answer has a head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("upstream status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        // A HEAD answer keeps the registry's Content-Length: it is the thing asked for.
        .filter(|(n, _)| {
            !["connection", "transfer-encoding"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
                && (r.method == "HEAD" || !n.eq_ignore_ascii_case("content-length"))
        })
        .collect();
    Answer {
        status,
        headers,
        body,
    }
}

fn write_answer(mut conn: TcpStream, request: &Seen, a: Answer) {
    let mut head = format!("HTTP/1.1 {} X\r\n", a.status);
    for (n, v) in &a.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !a
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", a.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let _ = conn.write_all(head.as_bytes());
    if request.method != "HEAD" {
        let _ = conn.write_all(&a.body);
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}
