//! `sv-bench`: drives a running daemon over its socket with the real
//! protocol and reports what it sustained. It owns no rules; it only sends
//! JSON-RPC lines (docs/design.md §7) and measures.
//!
//! ```text
//! sv-bench get  [--clients N] [--duration SECS] [--tool T] [--socket PATH]
//! sv-bench seed --count N [--tool T] [--project DIR | --global] [--ttl SECS] [--clients N]
//! sv-bench rss  [--socket PATH]
//! ```
//!
//! `get` opens N connections at once, each sending `get` requests back to
//! back for the duration, and prints lookups/s, p50/p99/max latency, errors
//! and the daemon's resident memory (`VmRSS` of the pid `status` reports).
//! The daemon reads the caller's directory from `/proc`, so run it from a
//! directory where a session applies. `seed` stores N sessions through the
//! `add` method (dummy secrets, never real keys). Exit status: 0 when no
//! request failed, 1 otherwise, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Args {
    mode: String,
    clients: usize,
    duration: Duration,
    count: usize,
    tool: String,
    project: Option<String>,
    ttl: u64,
    socket: PathBuf,
}

const USAGE: &str = "usage: sv-bench get [--clients N] [--duration SECS] [--tool T] [--socket PATH]
       sv-bench seed --count N [--tool T] [--project DIR | --global] [--ttl SECS] [--clients N]
       sv-bench rss [--socket PATH]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("give a mode: get, seed or rss")?;
    if !["get", "seed", "rss"].contains(&mode.as_str()) {
        return Err(format!("unknown mode `{mode}`"));
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let paths = sv_core::paths::VaultPaths::resolve(|k| std::env::var_os(k), uid)
        .map_err(|e| e.to_string())?;
    let mut a = Args {
        mode,
        clients: 32,
        duration: Duration::from_secs(10),
        count: 0,
        tool: "claude".into(),
        project: None,
        ttl: 0,
        socket: paths.socket,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--clients" => a.clients = num(val()?)?.max(1) as usize,
            "--duration" => {
                a.duration =
                    Duration::from_secs_f64(val()?.parse().map_err(|_| "--duration: not a number")?)
            }
            "--count" => a.count = num(val()?)? as usize,
            "--tool" => a.tool = val()?,
            "--project" => a.project = Some(val()?),
            "--global" => a.project = None,
            "--ttl" => a.ttl = num(val()?)?,
            "--socket" => a.socket = PathBuf::from(val()?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// Lets one process hold as many sockets as the hard limit allows.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

struct Conn {
    rd: BufReader<tokio::net::unix::OwnedReadHalf>,
    wr: tokio::net::unix::OwnedWriteHalf,
    line: Vec<u8>,
}

impl Conn {
    /// Connects, retrying while the listen backlog is full (as a blocking
    /// client would simply wait). Returns the connection and the retries.
    async fn open(socket: &std::path::Path) -> std::io::Result<(Conn, u64)> {
        let mut retries = 0;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match UnixStream::connect(socket).await {
                Ok(s) => {
                    let (rd, wr) = s.into_split();
                    let conn = Conn {
                        rd: BufReader::with_capacity(16 * 1024, rd),
                        wr,
                        line: Vec::new(),
                    };
                    return Ok((conn, retries));
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(1 + retries.min(20))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request, one response line; `Ok(false)` for a JSON-RPC error.
    async fn call(&mut self, request: &[u8]) -> std::io::Result<bool> {
        self.line.clear();
        let io = async {
            self.wr.write_all(request).await?;
            self.rd.read_until(b'\n', &mut self.line).await
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, io).await {
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request timed out",
            )),
            Ok(Err(e)) => Err(e),
            Ok(Ok(0)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(_)) => {
                Ok(!contains(&self.line, b"\"error\":") && contains(&self.line, b"\"result\":"))
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    retries: u64,
    first_error: Option<String>,
    micros: Vec<u32>,
}

async fn client(
    socket: Arc<PathBuf>,
    request: Arc<Vec<u8>>,
    start: Arc<tokio::sync::Barrier>,
    duration: Duration,
) -> Tally {
    let mut t = Tally::default();
    let conn = Conn::open(&socket).await;
    start.wait().await;
    let mut conn = match conn {
        Ok((c, r)) => {
            t.retries = r;
            c
        }
        Err(e) => {
            t.errors += 1;
            t.first_error = Some(format!("connect: {e}"));
            return t;
        }
    };
    // Every client starts when the last one has connected.
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let began = Instant::now();
        match conn.call(&request).await {
            Ok(true) => {
                t.ok += 1;
                t.micros
                    .push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            Ok(false) => {
                t.errors += 1;
                if t.first_error.is_none() {
                    t.first_error = Some(
                        String::from_utf8_lossy(&conn.line)
                            .trim()
                            .chars()
                            .take(200)
                            .collect(),
                    );
                }
            }
            Err(e) => {
                t.errors += 1;
                t.first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        }
    }
    t
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn daemon_rss(socket: &std::path::Path) -> Result<(u32, u64, u64), String> {
    let (mut c, _) = Conn::open(socket)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    c.call(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{}}\n")
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&c.line).map_err(|e| e.to_string())?;
    let pid = v["result"]["pid"]
        .as_u64()
        .ok_or("status did not report a pid")? as u32;
    let sessions = v["result"]["sessions"].as_u64().unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS line")?;
    Ok((pid, kib, sessions))
}

/// CPU time (user + system, in clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

async fn run_get(a: &Args) -> Result<bool, String> {
    let nofile = raise_nofile();
    if (a.clients as u64) + 16 > nofile {
        return Err(format!("{} clients need more file descriptors than the limit allows ({nofile}); raise `ulimit -Hn`", a.clients));
    }
    let daemon = daemon_rss(&a.socket).await.ok().map(|(pid, _, _)| pid);
    let ticks_before = daemon.and_then(cpu_ticks);
    let request = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get\",\"params\":{{\"tool\":{}}}}}\n",
        serde_json::Value::String(a.tool.clone())
    );
    let socket = Arc::new(a.socket.clone());
    let request = Arc::new(request.into_bytes());
    let start = Arc::new(tokio::sync::Barrier::new(a.clients + 1));
    let tasks: Vec<_> = (0..a.clients)
        .map(|_| {
            tokio::spawn(client(
                socket.clone(),
                request.clone(),
                start.clone(),
                a.duration,
            ))
        })
        .collect();
    start.wait().await;
    let began = Instant::now();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.map_err(|e| e.to_string())?;
        all.ok += t.ok;
        all.errors += t.errors;
        all.retries += t.retries;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.micros.extend(t.micros);
    }
    let secs = began.elapsed().as_secs_f64();
    let ticks = daemon
        .and_then(cpu_ticks)
        .zip(ticks_before)
        .map(|(b, a)| b.saturating_sub(a));
    all.micros.sort_unstable();
    println!("clients:        {}", a.clients);
    println!("duration_s:     {secs:.2}");
    println!("lookups:        {}", all.ok);
    println!("lookups_per_s:  {:.0}", all.ok as f64 / secs);
    println!("p50_ms:         {:.3}", percentile(&all.micros, 0.50));
    println!("p99_ms:         {:.3}", percentile(&all.micros, 0.99));
    println!("max_ms:         {:.3}", percentile(&all.micros, 1.0));
    println!("errors:         {}", all.errors);
    println!("connect_retries:{}", all.retries);
    if let (Some(t), true) = (ticks, all.ok > 0) {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        println!("daemon_cpu_s:   {:.2}", t as f64 / hz);
        println!(
            "daemon_cpu_us_per_lookup: {:.1}",
            t as f64 / hz * 1e6 / all.ok as f64
        );
    }
    if let Some(e) = &all.first_error {
        println!("first_error:    {e}");
    }
    print_rss(&a.socket).await;
    Ok(all.errors == 0)
}

async fn print_rss(socket: &std::path::Path) {
    match daemon_rss(socket).await {
        Ok((pid, kib, sessions)) => {
            println!("daemon_pid:     {pid}");
            println!("daemon_sessions:{sessions}");
            println!("daemon_rss_kib: {kib}");
        }
        Err(e) => println!("daemon_rss:     unknown ({e})"),
    }
}

async fn run_seed(a: &Args) -> Result<bool, String> {
    if a.count == 0 {
        return Err("give --count N".into());
    }
    let var = match a.tool.as_str() {
        "claude" => "ANTHROPIC_API_KEY",
        "cursor" => "CURSOR_API_KEY",
        "codex" => "OPENAI_API_KEY",
        "gemini" => "GEMINI_API_KEY",
        other => return Err(format!("seed knows only the built-in tools, not `{other}`")),
    };
    let project = match &a.project {
        Some(p) => serde_json::Value::String(
            std::fs::canonicalize(p)
                .map_err(|e| format!("{p}: {e}"))?
                .display()
                .to_string(),
        ),
        None => serde_json::Value::Null,
    };
    let clients = a.clients.min(a.count).min(8);
    let began = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (socket, next, project, tool, count, ttl) = (
            a.socket.clone(),
            next.clone(),
            project.clone(),
            a.tool.clone(),
            a.count,
            a.ttl,
        );
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = Conn::open(&socket).await?;
            let mut failed = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                // A dummy value, distinct per session; never a real key.
                let req = serde_json::json!({
                    "jsonrpc": "2.0", "id": i, "method": "add",
                    "params": {"tool": tool, "project": project, "label": format!("bench {i}"), "ttl": ttl,
                               "values": [{"name": var, "value": format!("bench-dummy-{i:08}")}]}
                });
                let mut line = req.to_string().into_bytes();
                line.push(b'\n');
                if !c.call(&line).await? {
                    failed += 1;
                }
            }
            Ok::<u64, std::io::Error>(failed)
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let secs = began.elapsed().as_secs_f64();
    println!("seeded:         {}", a.count as u64 - failed);
    println!("failed:         {failed}");
    println!(
        "adds_per_s:     {:.0}",
        (a.count as u64 - failed) as f64 / secs
    );
    print_rss(&a.socket).await;
    Ok(failed == 0)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sv-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sv-bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match a.mode.as_str() {
            "get" => run_get(&a).await,
            "seed" => run_seed(&a).await,
            _ => {
                print_rss(&a.socket).await;
                Ok(true)
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sv-bench: {e}");
            ExitCode::from(1)
        }
    }
}
