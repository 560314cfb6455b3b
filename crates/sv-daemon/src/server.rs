//! Socket, lock file, connection tasks and signals.

use crate::hygiene;
use crate::vault::{Peer, Vault};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, code, RpcError, MAX_FRAME};
use sv_core::ToolTable;
use sv_store::Store;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

/// How long a connection may sit without sending a complete frame.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A reply this big (bytes) is followed by handing freed memory back.
const LARGE_REPLY: usize = 1 << 20;
/// How long SIGTERM waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    pub backend: Option<String>,
    pub verbose: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Setup(String),
    #[error("another sv-daemon is already running for this user (lock {0}); use `session-vault daemon stop` first")]
    AlreadyRunning(PathBuf),
    #[error(transparent)]
    Store(#[from] sv_store::StoreError),
    #[error("{0}")]
    Usage(String),
}

impl DaemonError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Usage(_) => 2,
            _ => 1,
        }
    }
}

fn setup<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DaemonError + 'a {
    let what = what.to_owned();
    move |e| DaemonError::Setup(format!("cannot {what} {}: {e}", path.display()))
}

/// Creates (or checks) the runtime directory: ours and closed to others.
fn prepare_runtime_dir(paths: &VaultPaths, uid: u32) -> Result<(), DaemonError> {
    let dir = &paths.runtime_dir;
    if paths.runtime_dir_is_private {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(setup("create", dir)(e)),
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(setup("use the runtime directory", dir))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(DaemonError::Setup(format!(
            "{} is not a directory owned by you; remove it or set XDG_RUNTIME_DIR",
            dir.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        if paths.runtime_dir_is_private {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(setup("chmod 0700", dir))?;
        } else {
            return Err(DaemonError::Setup(format!(
                "{} is open to other users (mode {:o}); make it 0700 or point XDG_RUNTIME_DIR elsewhere",
                dir.display(),
                meta.mode() & 0o777
            )));
        }
    }
    Ok(())
}

fn load_tools(paths: &VaultPaths) -> Result<ToolTable, DaemonError> {
    let path = paths.config_file();
    match fs::read_to_string(&path) {
        Ok(text) => ToolTable::with_config(&text)
            .map_err(|e| DaemonError::Setup(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(ToolTable::builtin()),
        Err(e) => Err(setup("read", &path)(e)),
    }
}

/// Picks the key backend: `--backend`, `SESSION_VAULT_BACKEND`, else auto.
fn select_backend(
    requested: Option<String>,
) -> Result<(Box<dyn sv_keyring::KeyBackend>, Vec<p::BackendReport>), DaemonError> {
    let probes = sv_keyring::probe_all();
    let reports: Vec<p::BackendReport> = probes
        .iter()
        .map(|(n, r)| p::BackendReport {
            name: n.to_string(),
            available: r.is_ok(),
            reason: r.as_ref().err().cloned(),
        })
        .collect();
    let requested = requested
        .or_else(|| std::env::var("SESSION_VAULT_BACKEND").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "auto".into());
    let name = match requested.as_str() {
        "auto" => probes
            .iter()
            .find(|(_, r)| r.is_ok())
            .map(|(n, _)| *n)
            .unwrap_or("passphrase"),
        "secret-service" | "libsecret" => "libsecret",
        other => other,
    };
    if ![
        "auto",
        "tpm2",
        "secret-service",
        "libsecret",
        "keychain",
        "dpapi",
        "passphrase",
    ]
    .contains(&requested.as_str())
    {
        return Err(DaemonError::Usage(format!(
            "unknown backend `{requested}`; use auto, tpm2, secret-service, keychain, dpapi or passphrase"
        )));
    }
    match sv_keyring::backend_by_name(name) {
        Some(b) => {
            if let Err(reason) = b.probe() {
                return Err(DaemonError::Setup(format!(
                    "the {name} backend is not available: {reason}"
                )));
            }
            Ok((b, reports))
        }
        None => {
            let reason = probes
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, r)| r.as_ref().err().cloned())
                .unwrap_or_else(|| "not supported on this platform".into());
            Err(DaemonError::Setup(format!(
                "the {name} backend is not available: {reason}; use --backend passphrase or auto"
            )))
        }
    }
}

fn init_logging(verbose: bool) {
    use tracing_subscriber::filter::LevelFilter;
    // RUST_LOG may name one level (error, warn, info, debug, trace, off);
    // per-module filters would need a regex engine this daemon does without.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(if verbose {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        });
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Runs the daemon until SIGTERM/SIGINT or a `shutdown` request.
pub fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let notes = hygiene::harden();
    init_logging(opts.verbose);
    for n in notes {
        warn!("{n}");
    }
    let uid = hygiene::uid();
    let paths = VaultPaths::resolve(|k| std::env::var_os(k), uid)
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let (backend, reports) = select_backend(opts.backend)?;
    let tools = load_tools(&paths)?;
    prepare_runtime_dir(&paths, uid)?;

    let lock_path = paths.lock_file();
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(setup("open the lock file", &lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(DaemonError::AlreadyRunning(lock_path)),
        Err(fs::TryLockError::Error(e)) => return Err(setup("lock", &lock_path)(e)),
    }

    let store = Store::open(&paths.vault_db())?;
    let vault = Arc::new(Vault::new(store, backend, reports, tools, paths.clone()));
    if let Err(e) = vault.try_open_without_passphrase() {
        warn!(code = e.code, "{}", e.message);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Setup(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(serve(vault.clone(), &paths, uid));
    vault.checkpoint();
    drop(lock);
    result
}

fn bind(socket: &Path) -> Result<UnixListener, DaemonError> {
    // We hold the lock: whatever socket file is there is a crash's leftover.
    match fs::symlink_metadata(socket) {
        Ok(_) => {
            fs::remove_file(socket).map_err(setup("remove the stale socket", socket))?;
            info!(socket = %socket.display(), "replaced a stale socket");
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(setup("inspect", socket)(e)),
    }
    let listener = UnixListener::bind(socket).map_err(setup("listen on", socket))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))
        .map_err(setup("chmod", socket))?;
    Ok(listener)
}

async fn serve(vault: Arc<Vault>, paths: &VaultPaths, uid: u32) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = bind(&paths.socket)?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut shutdown = vault.shutdown.subscribe();
    let mut purge = tokio::time::interval(Duration::from_secs(60));
    let mut conns = JoinSet::new();
    info!(socket = %paths.socket.display(), backend = vault.backend_name(), pid = std::process::id(), "ready");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let v = vault.clone();
                    let rx = vault.shutdown.subscribe();
                    conns.spawn(async move { serve_conn(v, stream, uid, rx).await });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => { info!("SIGTERM: finishing in-flight requests"); break; }
            _ = int.recv() => { info!("SIGINT: finishing in-flight requests"); break; }
            _ = shutdown.changed() => break,
            _ = purge.tick() => vault.purge(),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = vault.shutdown.send(true);
    drop(listener);
    let _ = fs::remove_file(&paths.socket);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("some connections did not finish in time");
    }
    info!("stopped");
    Ok(())
}

enum Frame {
    Line,
    Eof,
    TooLarge,
}

/// Reads one newline-terminated frame into `buf` (without the newline),
/// never holding more than [`MAX_FRAME`] bytes.
async fn read_frame<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Frame> {
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Frame::Eof);
        }
        if let Some(i) = avail.iter().position(|&b| b == b'\n') {
            if buf.len() + i > MAX_FRAME {
                r.consume(i + 1);
                return Ok(Frame::TooLarge);
            }
            buf.extend_from_slice(&avail[..i]);
            r.consume(i + 1);
            return Ok(Frame::Line);
        }
        let n = avail.len();
        if buf.len() + n > MAX_FRAME {
            return Ok(Frame::TooLarge);
        }
        buf.extend_from_slice(avail);
        r.consume(n);
    }
}

fn peer_of(stream: &UnixStream) -> Option<Peer> {
    let cred = stream.peer_cred().ok()?;
    let pid = cred.pid();
    let (cwd, exe) = match pid {
        Some(pid) if cfg!(target_os = "linux") => {
            let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                // A deleted directory reads as "/x (deleted)": no scope then.
                .filter(|c| c.is_dir());
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            (cwd, exe)
        }
        _ => (None, None),
    };
    Some(Peer {
        uid: cred.uid(),
        pid,
        cwd,
        exe,
    })
}

fn encode_response(
    id: &serde_json::Value,
    out: Result<Box<serde_json::value::RawValue>, RpcError>,
) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(
        match out {
            Ok(result) => serde_json::to_vec(&p::ResponseOk {
                jsonrpc: "2.0",
                id,
                result: &result,
            }),
            Err(error) => serde_json::to_vec(&p::ResponseErr {
                jsonrpc: "2.0",
                id,
                error,
            }),
        }
        .unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#
                .to_vec()
        }),
    );
    buf.push(b'\n');
    buf
}

async fn serve_conn(
    vault: Arc<Vault>,
    stream: UnixStream,
    uid: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let null = serde_json::Value::Null;
    let Some(peer) = peer_of(&stream) else {
        warn!("refused a connection whose credentials cannot be read");
        return;
    };
    let (rd, mut wr) = stream.into_split();
    if peer.uid != uid {
        warn!(peer_uid = peer.uid, pid = ?peer.pid, exe = ?peer.exe, "refused: peer runs as another user");
        let err = RpcError::new(
            code::FORBIDDEN,
            "this session-vault daemon belongs to another user",
        );
        let _ = wr.write_all(&encode_response(&null, Err(err))).await;
        return;
    }
    let mut reader = BufReader::with_capacity(8 * 1024, rd);
    loop {
        let mut buf = Zeroizing::new(Vec::new());
        let frame = tokio::select! {
            r = tokio::time::timeout(READ_TIMEOUT, read_frame(&mut reader, &mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match frame {
            Err(_) => {
                debug!(pid = ?peer.pid, "closing an idle connection");
                break;
            }
            Ok(Err(_)) | Ok(Ok(Frame::Eof)) => break,
            Ok(Ok(Frame::TooLarge)) => {
                warn!(pid = ?peer.pid, "refused a frame over 64 KiB");
                let err = RpcError::new(code::FRAME_TOO_LARGE, "request larger than 64 KiB");
                let _ = wr.write_all(&encode_response(&null, Err(err))).await;
                break;
            }
            Ok(Ok(Frame::Line)) => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let reply = if is_quick(&buf) {
                    handle_frame(&vault, &buf, &peer)
                } else {
                    tokio::task::block_in_place(|| handle_frame(&vault, &buf, &peer))
                };
                let written = wr.write_all(&reply).await;
                if reply.len() > LARGE_REPLY {
                    drop(reply);
                    hygiene::release_memory();
                }
                if written.is_err() {
                    break;
                }
            }
        }
    }
}

/// Lookups and `status` take tens of microseconds (memory and one indexed
/// read, no disk write): they run on the worker itself. Handing the worker
/// to another thread (`block_in_place`) costs more than the lookup (measured:
/// context switches were 40% of the daemon's CPU and it grew to hundreds of
/// threads under 32 clients). Anything else (Argon2 in `unlock`, fsync in
/// `add`, a large `list`) still moves off the worker. A frame that only
/// looks like a lookup is merely served on the worker: correct either way.
fn is_quick(frame: &[u8]) -> bool {
    let has = |needle: &[u8]| frame.windows(needle.len()).any(|w| w == needle);
    (has(br#""method":"get""#) || has(br#""method":"status""#)) && !has(b"unlock")
}

/// Answers one frame (without its newline): the response line, newline
/// included, in a zeroising buffer. Blocking (SQLite, Argon2); pure apart
/// from what the vault does, so it is also the fuzzing entry point.
pub fn handle_frame(vault: &Vault, frame: &[u8], peer: &Peer) -> Zeroizing<Vec<u8>> {
    let null = serde_json::Value::Null;
    let (id, out) = match serde_json::from_slice::<p::IncomingRequest<'_>>(frame) {
        Err(_) => (
            null,
            Err(RpcError::new(
                code::PARSE_ERROR,
                "parse error: not a JSON-RPC request object",
            )),
        ),
        Ok(req) if req.jsonrpc != Some("2.0") => (
            req.id.clone().unwrap_or(serde_json::Value::Null),
            Err(RpcError::new(
                code::INVALID_REQUEST,
                "invalid request: jsonrpc must be \"2.0\"",
            )),
        ),
        Ok(req) => {
            let id = req.id.clone().unwrap_or(serde_json::Value::Null);
            let out = vault.dispatch(&req, peer);
            if let Err(e) = &out {
                debug!(method = %req.method.chars().take(32).collect::<String>(), code = e.code, "request failed");
            }
            (id, out)
        }
    };
    encode_response(&id, out)
}
