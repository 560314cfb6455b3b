//! Socket, lock file, connection tasks and signals. What differs per OS
//! (socket or named pipe, peer credentials, file modes, signals) is in
//! [`crate::platform`].

use crate::callers::{Callers, Unknown};
use crate::error::{setup, DaemonError};
use crate::frame::{decode_frame, encode_response, request_id, Frame, FrameReader};
use crate::hygiene;
use crate::logging::Refused;
use crate::peer::Peer;
use crate::platform::{self, peer_of, Stream};
use crate::rpc::Dispatched;
use crate::vault::Vault;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, code, RpcError};
use sv_store::Store;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

/// A reply this big (bytes) is followed by handing freed memory back.
const LARGE_REPLY: usize = 1 << 20;
/// How long SIGTERM waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the daemon (its command line).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// `--backend`: a key backend's name, or `auto`; else
    /// `SESSION_VAULT_BACKEND`, else `auto`.
    pub backend: Option<String>,
    /// `--verbose`: log at debug level (`RUST_LOG`, when set, decides).
    pub verbose: bool,
}

fn take_lock(path: &Path) -> Result<fs::File, DaemonError> {
    let file = sv_fs::private::file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(setup("open the lock file", path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(DaemonError::AlreadyRunning(path.to_owned())),
        Err(fs::TryLockError::Error(e)) => Err(setup("lock", path)(e)),
    }
}

/// Runs the daemon until SIGTERM/SIGINT or a `shutdown` request.
pub fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let notes = hygiene::harden();
    crate::logging::init(opts.verbose);
    for n in notes {
        warn!("{n}");
    }
    let uid = hygiene::uid();
    let paths = VaultPaths::resolve(|k| std::env::var_os(k), uid)
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let (tools, daemon_config) = crate::settings::load(&paths)?;
    let proxy_listen = daemon_config.proxy_listen;
    platform::prepare_runtime_dir(&paths, uid)?;

    // One daemon per user: a lock beside the socket, and one beside the
    // vault (two shells with different XDG_RUNTIME_DIR share one vault).
    let lock = take_lock(&paths.lock_file())?;
    sv_fs::private::create_dir_all(&paths.data_dir).map_err(setup("create", &paths.data_dir))?;
    let vault_lock = take_lock(&paths.data_dir.join("daemon.lock"))?;

    let store = Store::open(&paths.vault_db())?;
    let (backend, reports) =
        crate::select::select_backend(opts.backend, &store.wrapped_backends()?)?;
    let vault = Arc::new(
        Vault::new(store, backend, reports, tools, paths.clone()).with_config(daemon_config),
    );
    if let Err(e) = vault.try_open_without_passphrase() {
        warn!(code = e.code, "{}", e.message);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Setup(format!("cannot start the runtime: {e}")))?;
    // The accept loop runs on a worker, not on this thread: a connection's
    // task then starts on the worker that accepted it, and its end reaches
    // the loop there. From this thread each `get` cost three more thread
    // hand-offs (accept here, serve on a worker, join back here), most of
    // the daemon's CPU per `get` on a 2-core VM (context switches).
    // (Windows' named-pipe listener is not `Send`: it stays on this thread.)
    #[cfg(unix)]
    let served = {
        let (vault, paths) = (vault.clone(), paths.clone());
        runtime.block_on(async move {
            tokio::spawn(async move { serve(vault, &paths, uid, proxy_listen).await }).await
        })
    };
    #[cfg(not(unix))]
    let served: Result<_, tokio::task::JoinError> =
        Ok(runtime.block_on(serve(vault.clone(), &paths, uid, proxy_listen)));
    let result = match served {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(DaemonError::Setup(format!("the daemon's loop ended: {e}"))),
    };
    vault.checkpoint();
    drop(vault_lock);
    drop(lock);
    result
}

async fn serve(
    vault: Arc<Vault>,
    paths: &VaultPaths,
    uid: u32,
    proxy_listen: Option<std::net::SocketAddr>,
) -> Result<(), DaemonError> {
    // Signals first: once the socket exists a client (or systemd) may send
    // SIGTERM at once, and it must find the handler that removes the socket
    // and exits 0, not the default action.
    let mut signals = platform::Signals::new()?;
    let mut listener = platform::bind(paths)?;
    // The credential proxy (docs/design.md §10), on the vault's loopback
    // port; the daemon serves on without it if it cannot start.
    #[cfg(target_os = "linux")]
    let proxy = crate::proxy::start(&vault, &paths.data_dir, proxy_listen).await;
    #[cfg(not(target_os = "linux"))]
    let _ = proxy_listen;
    let mut idle = tokio::time::interval(Duration::from_secs(1));
    let mut shutdown = vault.shutdown.subscribe();
    let mut purge = tokio::time::interval(Duration::from_secs(60));
    let mut conns = JoinSet::new();
    #[cfg(target_os = "linux")]
    let proxy_addr = proxy.as_ref().map(|p| p.addr().to_string());
    #[cfg(not(target_os = "linux"))]
    let proxy_addr: Option<String> = None;
    info!(socket = %paths.socket.display(), backend = vault.backend_name(), pid = std::process::id(), proxy = proxy_addr.as_deref().unwrap_or("none"), "ready");
    crate::notify::notify(&format!(
        "READY=1\nMAINPID={}\nSTATUS=serving on {}",
        std::process::id(),
        paths.socket.display()
    ));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let v = vault.clone();
                    let rx = vault.shutdown.subscribe();
                    conns.spawn(async move { serve_conn(v, stream, uid, rx).await });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            signal = signals.recv() => match signal {
                platform::SignalAction::Stop(name) => { info!("{name}: finishing in-flight requests"); break; }
                platform::SignalAction::Lock(name) => { info!("{name}: locking the vault"); vault.lock(); }
            },
            _ = shutdown.changed() => break,
            _ = purge.tick() => vault.purge(),
            _ = idle.tick() => vault.lock_if_idle(),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = vault.shutdown.send(true);
    crate::notify::notify("STOPPING=1");
    listener.close(paths);
    #[cfg(target_os = "linux")]
    if let Some(proxy) = proxy {
        proxy.shutdown().await;
    }
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

async fn serve_conn(
    vault: Arc<Vault>,
    stream: Stream,
    uid: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let null = serde_json::Value::Null;
    let Some(peer) = peer_of(&stream) else {
        debug!("refused a connection whose credentials cannot be read");
        crate::logging::note_refusal(Refused::OtherUser);
        return;
    };
    let (rd, mut wr) = platform::split(stream);
    if peer.uid != uid {
        debug!(peer_uid = peer.uid, pid = ?peer.pid, exe = ?peer.exe, "refused: peer runs as another user");
        crate::logging::note_refusal(Refused::OtherUser);
        tokio::task::block_in_place(|| vault.audit_refused_uid(&peer));
        let err = RpcError::new(
            code::FORBIDDEN,
            "this session-vault daemon belongs to another user",
        );
        let _ = wr.write_all(&encode_response(&null, Err(err))).await;
        return;
    }
    let mut reader = FrameReader::new(rd);
    // Each frame is answered for the process that sent it (callers.rs).
    let mut callers = Callers::new(peer, uid);
    loop {
        let frame = tokio::select! {
            r = reader.next() => r,
            _ = shutdown.changed() => break,
        };
        match frame {
            Ok(Frame::TimedOut) => {
                debug!(pid = ?callers.connector().pid, "closing an idle or stalled connection");
                break;
            }
            Err(_) | Ok(Frame::Eof) => break,
            Ok(Frame::TooLarge) => {
                debug!(pid = ?callers.connector().pid, "refused a frame over 64 KiB");
                crate::logging::note_refusal(Refused::LargeFrame);
                let err = RpcError::new(code::FRAME_TOO_LARGE, "request larger than 64 KiB");
                let _ = wr.write_all(&encode_response(&null, Err(err))).await;
                break;
            }
            Ok(Frame::MixedSenders) => {
                if !refuse_unknown(&vault, None, Unknown::MixedSenders, &mut wr).await {
                    break;
                }
            }
            Ok(Frame::Line(buf, sender)) => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                // The sender, its directory included, is read for every
                // request: a client may chdir, and a connection may be
                // inherited or passed on, between requests.
                let peer = match callers.identify(sender) {
                    Ok(peer) => peer,
                    Err(why) => {
                        if !refuse_unknown(&vault, Some(&buf), why, &mut wr).await {
                            break;
                        }
                        continue;
                    }
                };
                let (id, mut handled) = if is_quick(&buf) {
                    // Decoded before the store's turn, handled within it.
                    match decode_frame(&buf) {
                        Ok(req) => match vault.dispatch_cached(&req, peer) {
                            // A repeated lookup needs no store (see lookups.rs).
                            Some(done) => (request_id(&req), done),
                            None => {
                                let _turn = vault.store_turn.acquire().await.ok();
                                dispatch_request(&vault, &req, peer)
                            }
                        },
                        Err(refused) => *refused,
                    }
                } else {
                    tokio::task::block_in_place(|| dispatch_frame(&vault, &buf, peer))
                };
                // A `--confirm` question is asked here, on this
                // connection's task: other clients go on being served.
                #[cfg(target_os = "linux")]
                if handled.confirm.is_some() {
                    handled = confirmed(&vault, &buf, peer, handled).await;
                }
                #[cfg(not(target_os = "linux"))]
                if let Some(ask) = handled.confirm.take() {
                    match *ask {}
                }
                // A lookup's answer waits for its audit record's commit,
                // which it shares with the lookups ready at the same time.
                let committed = match handled.audit.take() {
                    Some(rec) => {
                        match vault
                            .audit_queue
                            .settle(rec, &vault.store_turn, |records| {
                                vault.commit_audit(records)
                            })
                            .await
                        {
                            Some((committed, rec)) => {
                                handled.audit = Some(rec);
                                committed
                            }
                            // Dropped uncommitted: refused below as if the
                            // commit had failed (no record, no credential).
                            None => {
                                handled = Dispatched::error(RpcError::new(
                                    code::STORAGE,
                                    "the audit record was not written; nothing was served",
                                ));
                                Ok(())
                            }
                        }
                    }
                    None => Ok(()),
                };
                let reply = encode_response(&id, handled.settle(committed));
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

/// Asks the user the question a request waits on (`--confirm`,
/// docs/design.md §11), or waits for the same question already open, and
/// on a yes decides the request again; anything but a yes leaves the
/// refusal, its record naming the answer. A request asks each question at
/// most once.
#[cfg(target_os = "linux")]
async fn confirmed(
    vault: &Vault,
    frame: &[u8],
    peer: &Peer,
    mut handled: Dispatched,
) -> Dispatched {
    use crate::rules::Answer;
    let mut asked = Vec::new();
    while let Some(ask) = handled.confirm.take() {
        let key = (ask.session_id.clone(), ask.kind);
        if asked.contains(&key) || asked.len() >= 16 {
            // Asked already and still not confirmed: its tree has gone.
            break;
        }
        asked.push(key);
        let answer = vault.approvals.answer(&ask, vault.confirm_timeout()).await;
        if answer != Answer::Yes {
            debug!(pid = ?peer.pid, session = %ask.session_id, answer = ?answer, "refused: not confirmed");
            crate::logging::note_refusal(Refused::NotConfirmed);
            handled.out = Err(answer.error());
            if let Some(rec) = handled.audit.as_mut() {
                rec.rule = Some(answer.rule());
            }
            return handled;
        }
        handled = tokio::task::block_in_place(|| dispatch_frame(vault, frame, peer)).1;
        if let Some(rec) = handled.audit.as_mut() {
            if handled.confirm.is_none() && !rec.outcome.is_denied() {
                rec.rule = Some(Answer::Yes.rule());
            }
        }
    }
    handled
}

/// Answers a frame whose sender is not known (docs/design.md §11) with a
/// refusal, and records it. False when the connection has gone.
async fn refuse_unknown<W: AsyncWrite + Unpin>(
    vault: &Vault,
    frame: Option<&[u8]>,
    why: Unknown,
    wr: &mut W,
) -> bool {
    let id = frame
        .and_then(|f| decode_frame(f).ok().map(|req| request_id(&req)))
        .unwrap_or(serde_json::Value::Null);
    let error = why.error();
    let (outcome, peer) = why.audited();
    debug!(pid = ?peer.pid, outcome = outcome.as_str(), "refused a request whose sender is not known");
    crate::logging::note_refusal(Refused::UnknownSender);
    tokio::task::block_in_place(|| vault.audit_refused(&peer, outcome));
    wr.write_all(&encode_response(&id, Err(error)))
        .await
        .is_ok()
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
/// included, in a zeroising buffer. Blocking (SQLite, Argon2; a lookup's
/// audit record is committed here and now); pure apart from what the vault
/// does, so it is also the fuzzing entry point. The server itself commits
/// lookups' records in groups (see `audit.rs`).
pub fn handle_frame(vault: &Vault, frame: &[u8], peer: &Peer) -> Zeroizing<Vec<u8>> {
    let (id, handled) = dispatch_frame(vault, frame, peer);
    let committed = match &handled.audit {
        Some(rec) => vault
            .commit_audit(std::slice::from_ref(rec))
            .map_err(|e| e.to_string()),
        None => Ok(()),
    };
    encode_response(&id, handled.settle(committed))
}

/// Decodes and handles one frame: the request id and the handled request.
fn dispatch_frame(vault: &Vault, frame: &[u8], peer: &Peer) -> (serde_json::Value, Dispatched) {
    match decode_frame(frame) {
        Ok(req) => dispatch_request(vault, &req, peer),
        Err(refused) => *refused,
    }
}

/// Handles a decoded request: its id and the handled request.
fn dispatch_request(
    vault: &Vault,
    req: &p::IncomingRequest<'_>,
    peer: &Peer,
) -> (serde_json::Value, Dispatched) {
    let id = request_id(req);
    let handled = vault.dispatch(req, peer);
    if let Err(e) = &handled.out {
        debug!(method = %req.method.chars().take(32).collect::<String>(), code = e.code, "request failed");
    }
    (id, handled)
}
