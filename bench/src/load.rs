//! The load generators: `wrk` when it is installed, else a built-in HTTP/1.1 keep-alive client
//! (N connections for T seconds, latencies in an HDR histogram); and the small one-off client
//! the runner uses to log in, check responses and drive the login storm.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One timed run: throughput and latency percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Completed requests.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Responses that were not 2xx/3xx, and socket errors.
    pub errors: u64,
    /// The server process's CPU time (user + system) per completed request, microseconds;
    /// `0` when not measured. Unlike throughput, it hardly depends on what else the machine
    /// runs, so its ratios are the steadier ones on a shared machine.
    pub cpu_us_per_req: f64,
}

/// What to request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// The `Cookie` header, if any.
    pub cookie: Option<String>,
    /// A url-encoded form body (for `POST`).
    pub form: Option<String>,
    /// The `X-CSRF-Token` header, if any (every adapter enforces CSRF on posts).
    pub csrf: Option<String>,
}

/// An anonymous client's CSRF credentials: the double-submit cookie and its token, from
/// `GET /csrf` ([`anonymous_csrf`]). Stateless and signed: one pair serves every post.
#[derive(Debug, Clone)]
pub struct Csrf {
    /// The `Cookie` header value carrying the double-submit cookie.
    pub cookie: String,
    /// The token, for the `X-CSRF-Token` header.
    pub token: String,
}

/// Fetches an anonymous CSRF token and its cookie from the Sesame server at `addr`.
///
/// # Errors
///
/// When the server does not answer `200` with a token and a cookie.
pub async fn anonymous_csrf(addr: SocketAddr) -> io::Result<Csrf> {
    let response = request(&Target::get(addr, "/csrf", None)).await?;
    let cookie = response.cookie_header();
    let token = String::from_utf8_lossy(&response.body).trim().to_owned();
    if response.status != 200 || cookie.is_empty() || token.is_empty() {
        return Err(io::Error::other(format!(
            "GET /csrf at {addr} answered {} with cookies {:?}",
            response.status, response.set_cookies
        )));
    }
    Ok(Csrf { cookie, token })
}

impl Target {
    /// `GET path`, with a cookie.
    pub fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Self {
        Self {
            addr,
            method: "GET",
            path: path.to_owned(),
            cookie: cookie.map(str::to_owned),
            form: None,
            csrf: None,
        }
    }

    /// `POST path` with a url-encoded form body (possibly empty), no cookie.
    pub fn post(addr: SocketAddr, path: &str, form: &str) -> Self {
        Self {
            addr,
            method: "POST",
            path: path.to_owned(),
            cookie: None,
            form: Some(form.to_owned()),
            csrf: None,
        }
    }

    /// The same request with an anonymous client's CSRF credentials (its cookie added to any
    /// other, its token in `X-CSRF-Token`).
    #[must_use]
    pub fn with_csrf(mut self, csrf: &Csrf) -> Self {
        self.cookie = Some(match self.cookie.take() {
            Some(c) => format!("{c}; {}", csrf.cookie),
            None => csrf.cookie.clone(),
        });
        self.csrf = Some(csrf.token.clone());
        self
    }

    /// The raw HTTP/1.1 request (keep-alive).
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut r = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, self.path, self.addr
        );
        if let Some(c) = &self.cookie {
            r.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(t) = &self.csrf {
            r.push_str(&format!("X-CSRF-Token: {t}\r\n"));
        }
        if let Some(f) = &self.form {
            r.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
                f.len()
            ));
        } else {
            r.push_str("\r\n");
        }
        r.into_bytes()
    }

    fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }
}

/// Which load generator drives the runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// `wrk` at this path, with one thread.
    Wrk(PathBuf),
    /// The built-in client in this module.
    Builtin,
}

impl Generator {
    /// `wrk` from the `PATH` when `prefer_builtin` is false and it is installed, else the
    /// built-in client.
    pub fn detect(prefer_builtin: bool) -> Self {
        if prefer_builtin {
            return Self::Builtin;
        }
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("wrk"))
                .find(|p| p.is_file())
        });
        found.map_or(Self::Builtin, Self::Wrk)
    }

    /// A short description for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Wrk(path) => {
                let version = std::process::Command::new(path)
                    .arg("-v")
                    .output()
                    .ok()
                    .and_then(|o| {
                        let text = String::from_utf8_lossy(&o.stdout).into_owned()
                            + &String::from_utf8_lossy(&o.stderr);
                        text.lines().next().map(str::to_owned)
                    })
                    .unwrap_or_else(|| "wrk".to_owned());
                // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer": keep the
                // name and version.
                let version = version.split(" Copyright").next().unwrap_or("wrk").trim();
                format!("{version} (1 thread)")
            }
            Self::Builtin => {
                "built-in client (tokio, HTTP/1.1 keep-alive, HdrHistogram)".to_owned()
            }
        }
    }

    /// Drives `target` with `connections` connections for `duration`.
    ///
    /// # Errors
    ///
    /// `wrk` failing to start or printing no result; the built-in client failing to connect.
    pub async fn run(
        &self,
        target: &Target,
        connections: usize,
        duration: Duration,
        scratch: &Path,
    ) -> io::Result<Sample> {
        match self {
            Self::Wrk(path) => wrk(path, target, connections, duration, scratch).await,
            Self::Builtin => builtin(target, connections, duration).await,
        }
    }
}

async fn wrk(
    wrk: &Path,
    target: &Target,
    connections: usize,
    duration: Duration,
    scratch: &Path,
) -> io::Result<Sample> {
    let mut cmd = tokio::process::Command::new(wrk);
    cmd.arg("-t1")
        .arg(format!("-c{}", connections.max(1)))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--latency");
    if let Some(c) = &target.cookie {
        cmd.arg("-H").arg(format!("Cookie: {c}"));
    }
    if let Some(t) = &target.csrf {
        cmd.arg("-H").arg(format!("X-CSRF-Token: {t}"));
    }
    if let Some(form) = &target.form {
        let script = scratch.join(format!("post-{}.lua", target.addr.port()));
        let lua_body = form.replace('\\', "\\\\").replace('"', "\\\"");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"{}\"\nwrk.body = \"{lua_body}\"\n\
                 wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n",
                target.method
            ),
        )?;
        cmd.arg("-s").arg(script);
    }
    cmd.arg(target.url());
    let output = cmd.kill_on_drop(true).output().await?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).ok_or_else(|| {
        io::Error::other(format!(
            "wrk printed no result (status {}):\n{text}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// A wrk latency like `471.00us`, `1.35ms` or `2.01s`, in microseconds.
fn wrk_latency(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some(n * factor)
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(text: &str) -> Option<Sample> {
    let mut sample = Sample::default();
    let mut rps = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            sample.p50_us = wrk_latency(v)?;
        } else if let Some(v) = line.strip_prefix("99%") {
            sample.p99_us = wrk_latency(v)?;
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            sample.requests = n.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            sample.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                let n = part
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok());
                sample.errors += n.unwrap_or(0);
            }
        }
    }
    sample.rps = rps?;
    Some(sample)
}

/// CPU time (user + system) a process has used so far, in microseconds, from
/// `/proc/PID/stat` (Linux); `None` elsewhere or when the process is gone.
pub fn process_cpu_us(pid: u32) -> Option<f64> {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces, in parentheses): state is the
    // first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks * 1e6)
}

/// A parsed response: status, `Set-Cookie` values (when asked for), body.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Set-Cookie` header values.
    pub set_cookies: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The cookies the response set, as a `Cookie` request header value (`a=1; b=2`).
    pub fn cookie_header(&self) -> String {
        self.set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One HTTP/1.1 keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

const MAX_HEADERS: usize = 64;

impl Conn {
    /// Connects (with `TCP_NODELAY`, as wrk does).
    ///
    /// # Errors
    ///
    /// Connecting.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
            closed: false,
        })
    }

    /// Whether the server asked to close the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends `request` and reads the response. With `full`, the `Set-Cookie` values and the
    /// body are kept; without, only the status (the load loop allocates nothing per request).
    ///
    /// # Errors
    ///
    /// I/O, a malformed response, or the server closing the connection.
    pub async fn send(&mut self, request: &[u8], full: bool) -> io::Result<Response> {
        self.stream.write_all(request).await?;
        let (status, head_len, body_len, chunked, close, set_cookies) = loop {
            if let Some(head) = parse_head(&self.buf, full)? {
                break head;
            }
            self.fill().await?;
        };
        self.buf.drain(..head_len);
        let body = if chunked {
            self.read_chunked().await?
        } else {
            while self.buf.len() < body_len {
                self.fill().await?;
            }
            let body = if full {
                self.buf[..body_len].to_vec()
            } else {
                Vec::new()
            };
            self.buf.drain(..body_len);
            body
        };
        self.closed = close;
        Ok(Response {
            status,
            set_cookies,
            body: if full { body } else { Vec::new() },
        })
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buf[..line_end])
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

type Head = (u16, usize, usize, bool, bool, Vec<String>);

fn parse_head(buf: &[u8], full: bool) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::other(format!("malformed response: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut body_len = 0;
    let mut chunked = false;
    let mut close = false;
    let mut set_cookies = Vec::new();
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        } else if full && h.name.eq_ignore_ascii_case("set-cookie") {
            set_cookies.push(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    Ok(Some((
        status,
        head_len,
        body_len,
        chunked,
        close,
        set_cookies,
    )))
}

/// One request on a new connection, keeping everything.
///
/// # Errors
///
/// As [`Conn::send`].
pub async fn request(target: &Target) -> io::Result<Response> {
    let mut conn = Conn::connect(target.addr).await?;
    conn.send(&target.request_bytes(), true).await
}

/// Logs in with `POST /login` and returns the `Cookie` header value for the session it set.
///
/// # Errors
///
/// When the login is refused or sets no cookie.
pub async fn login(addr: SocketAddr, username: &str, password: &str) -> io::Result<String> {
    let form = serde_urlencoded::to_string([("username", username), ("password", password)])
        .map_err(io::Error::other)?;
    // Sesame's servers enforce CSRF on posts; the peer (axum-login) has no `/csrf` and needs
    // no token.
    let mut target = Target::post(addr, "/login", &form);
    if request(&Target::get(addr, "/csrf", None)).await?.status != 404 {
        target = target.with_csrf(&anonymous_csrf(addr).await?);
    }
    let response = request(&target).await?;
    let cookie = response.cookie_header();
    if response.status != 200 || cookie.is_empty() {
        return Err(io::Error::other(format!(
            "login at {addr} answered {} with cookies {:?}",
            response.status, response.set_cookies
        )));
    }
    Ok(cookie)
}

fn histogram() -> Histogram<u64> {
    // 1 us to 60 s, 3 significant digits.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The built-in load generator: `connections` keep-alive connections, each sending `target`
/// back to back until `duration` has passed.
///
/// # Errors
///
/// When no connection could be opened at all.
pub async fn builtin(
    target: &Target,
    connections: usize,
    duration: Duration,
) -> io::Result<Sample> {
    let request: Arc<[u8]> = target.request_bytes().into();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let request = request.clone();
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut errors = 0u64;
            let mut conn: Option<Conn> = None;
            while Instant::now() < deadline {
                let c = match conn.take() {
                    Some(c) if !c.is_closed() => c,
                    _ => match Conn::connect(addr).await {
                        Ok(c) => c,
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let mut c = c;
                let t0 = Instant::now();
                let sent = tokio::time::timeout_at(
                    (deadline + Duration::from_secs(5)).into(),
                    c.send(&request, false),
                )
                .await;
                match sent {
                    Ok(Ok(response)) => {
                        let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                        hist.saturating_record(micros.max(1));
                        if !(200..400).contains(&response.status) {
                            errors += 1;
                        }
                        conn = Some(c);
                    }
                    Ok(Err(_)) | Err(_) => errors += 1,
                }
            }
            (hist, errors)
        }));
    }
    let mut hist = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.map_err(io::Error::other)?;
        hist.add(&h)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if hist.is_empty() {
        return Err(io::Error::other(format!(
            "no request to {} completed ({errors} errors)",
            target.addr
        )));
    }
    Ok(Sample {
        requests: hist.len(),
        rps: hist.len() as f64 / elapsed,
        p50_us: hist.value_at_quantile(0.5) as f64,
        p99_us: hist.value_at_quantile(0.99) as f64,
        errors,
        cpu_us_per_req: 0.0,
    })
}

/// A login storm in the background: `clients` connections each `POST`ing a login in a loop.
#[derive(Debug)]
pub struct Storm {
    stop: Arc<AtomicBool>,
    logins: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Storm {
    /// Starts `clients` clients, client `n` logging in as `username(n)` (one account per
    /// client, as a storm of real users), with the anonymous CSRF credentials `csrf`.
    pub fn start(
        addr: SocketAddr,
        clients: usize,
        username: impl Fn(usize) -> String,
        password: &str,
        csrf: &Csrf,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let logins = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients.max(1))
            .map(|n| {
                let name = username(n);
                let form = serde_urlencoded::to_string([
                    ("username", name.as_str()),
                    ("password", password),
                ])
                .unwrap_or_default();
                let request: Vec<u8> = Target::post(addr, "/login", &form)
                    .with_csrf(csrf)
                    .request_bytes();
                let stop = stop.clone();
                let (logins, failures) = (logins.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut conn: Option<Conn> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let mut c = match conn.take() {
                            Some(c) if !c.is_closed() => c,
                            _ => match Conn::connect(addr).await {
                                Ok(c) => c,
                                Err(_) => {
                                    failures.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                }
                            },
                        };
                        match c.send(&request, false).await {
                            Ok(r) if r.status == 200 => {
                                logins.fetch_add(1, Ordering::Relaxed);
                                conn = Some(c);
                            }
                            Ok(_) => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                conn = Some(c);
                            }
                            Err(_) => {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            logins,
            failures,
            tasks,
        }
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// Refused logins and errors so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Stops the clients and waits for their last logins.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:3000/\n  1 threads and 32 connections\n  \
                    Latency Distribution\n     50%  471.00us\n     75%  587.00us\n     90%  \
                    736.00us\n     99%    1.35ms\n  308726 requests in 5.00s, 37.39MB read\n  \
                    Non-2xx or 3xx responses: 12\n  Socket errors: connect 0, read 2, write 0, \
                    timeout 1\nRequests/sec:  61746.70\nTransfer/sec:      7.48MB\n";
        let s = parse_wrk(text).unwrap();
        assert_eq!(s.requests, 308_726);
        assert!((s.rps - 61_746.70).abs() < 1e-6);
        assert!((s.p50_us - 471.0).abs() < 1e-6);
        assert!((s.p99_us - 1350.0).abs() < 1e-6);
        assert_eq!(s.errors, 15);
    }

    #[test]
    fn parses_heads() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nset-cookie: a=b; Path=/\r\n\r\nhello";
        let (status, head, len, chunked, close, cookies) = parse_head(raw, true).unwrap().unwrap();
        assert_eq!((status, len, chunked, close), (200, 5, false, false));
        assert_eq!(&raw[head..], b"hello");
        assert_eq!(cookies, ["a=b; Path=/"]);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n", false).unwrap().is_none());
    }
}
