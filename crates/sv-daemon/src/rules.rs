//! A session's caller rules, checked (docs/design.md §11, docs/callers.md):
//!
//! - `--allow-exe`: a plaintext key goes only to a caller whose running
//!   file, or an ancestor's, is one of the allowed files. The kernel's
//!   view: device and inode of `/proc/PID/exe` (the open file, not argv[0]
//!   nor the name), compared with those the allowed paths resolved to at
//!   `add`. Ancestors are walked by parent pid, each pinned by a pidfd and
//!   checked to be still the child's parent (`ProcessPin::parent`), so an
//!   exited parent's reused pid never stands in for it.
//! - `--confirm`: the first plaintext reveal to a process tree, and each
//!   new stand-in, need the user's yes from an askpass program that the
//!   daemon runs (never one the caller names: a caller must not choose
//!   what approves it). The question is asked without holding up other
//!   clients: the lookup answers [`Check::Ask`], the connection's task
//!   awaits [`Approvals::answer`] (requests that need the same yes at the
//!   same time share one question), and on a yes the request is decided
//!   again.
//!   A yes for a tree is bound to the tree's session leader (the caller's
//!   session id, pinned) and holds until that leader exits; a yes for a
//!   stand-in is bound to the process the stand-in is bound to.
//!
//! Sessions without rules never reach this module (`CallerRules::is_empty`).

use crate::peer::Peer;
use crate::pidfd::ProcessPin;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sv_core::ops::AuditOutcome;
use sv_core::protocol::{code, RpcError};
use sv_core::rules::CallerRules;
use sv_store::SessionRow;
use tokio::sync::watch;
use tracing::{info, warn};

/// The variables naming the askpass program, in the order they are read
/// (from the daemon's own environment).
pub const ASKPASS_VARS: [&str; 2] = ["SESSION_VAULT_ASKPASS", "SSH_ASKPASS"];

/// What a lookup is for.
#[derive(Clone, Copy)]
pub enum Purpose<'a> {
    /// A plaintext key (`get`, `env`, `exec` without `--proxy`).
    Reveal,
    /// A stand-in that will be bound to this process.
    StandIn(&'a Arc<ProcessPin>),
}

/// What a yes is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Plaintext reveals to a process tree.
    Tree,
    /// Stand-ins bound to one process.
    StandIn,
}

/// A question for the user, and what a yes will be bound to.
#[derive(Debug)]
pub struct Ask {
    pub session_id: String,
    pub kind: Kind,
    /// The tree's session leader, or the stand-in's process.
    pub holder: Arc<ProcessPin>,
    /// One line, control characters escaped.
    pub question: String,
}

/// A rule's verdict on one lookup.
pub enum Check {
    Pass,
    Refused {
        outcome: AuditOutcome,
        rule: String,
        error: RpcError,
    },
    Ask(Box<Ask>),
}

/// The yeses given, each bound to a live process, and the questions open.
#[derive(Default)]
pub struct Approvals {
    given: Mutex<Vec<(String, Kind, Arc<ProcessPin>)>>,
    /// Questions being asked now, by what they ask (session, kind, holder
    /// pid): a request that needs the same yes waits for that answer
    /// rather than opening a second dialog.
    open: Mutex<HashMap<QuestionKey, watch::Receiver<Option<Answer>>>>,
}

type QuestionKey = (String, Kind, i32);

impl Approvals {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<(String, Kind, Arc<ProcessPin>)>> {
        self.given.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<QuestionKey, watch::Receiver<Option<Answer>>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a yes for `session` and `kind` holds for the live process
    /// `pid`. While that process lives no other has its pid, so a live
    /// pin with that pid is that process. Yeses whose process exited go.
    fn holds(&self, session: &str, kind: Kind, pid: i32) -> bool {
        let mut e = self.entries();
        e.retain(|(_, _, pin)| !pin.exited());
        e.iter()
            .any(|(s, k, pin)| s == session && *k == kind && pin.pid() == pid)
    }

    /// Records the user's yes to `ask`.
    fn grant(&self, ask: &Ask) {
        if ask.holder.exited() {
            return;
        }
        info!(session = %ask.session_id, kind = ?ask.kind, pid = ask.holder.pid(), "confirmed by the user");
        self.entries()
            .push((ask.session_id.clone(), ask.kind, ask.holder.clone()));
    }

    /// The user's answer to `ask`: asked through the askpass program
    /// ([`ask_user`]), or, when the same question is open already, that
    /// question's answer; a yes is recorded before it is returned.
    pub async fn answer(&self, ask: &Ask, timeout: Duration) -> Answer {
        let key = (ask.session_id.clone(), ask.kind, ask.holder.pid());
        let joined = {
            let mut open = self.open();
            if self.holds(&ask.session_id, ask.kind, ask.holder.pid()) {
                // Said yes to while this request waited for its turn.
                return Answer::Yes;
            }
            match open.get(&key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    open.insert(key.clone(), rx);
                    Ok(tx)
                }
            }
        };
        let mut rx = match joined {
            Ok(tx) => {
                // Closed however this ends, a dropped request included.
                let _open = OpenQuestion {
                    approvals: self,
                    key,
                };
                let answer = ask_user(ask, timeout).await;
                if answer == Answer::Yes {
                    self.grant(ask);
                }
                let _ = tx.send(Some(answer.clone()));
                return answer;
            }
            Err(rx) => rx,
        };
        loop {
            if let Some(a) = rx.borrow_and_update().clone() {
                return a;
            }
            if rx.changed().await.is_err() {
                return rx
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| Answer::Failed("the question was withdrawn".into()));
            }
        }
    }
}

/// An open question, closed when dropped.
struct OpenQuestion<'a> {
    approvals: &'a Approvals,
    key: QuestionKey,
}

impl Drop for OpenQuestion<'_> {
    fn drop(&mut self) {
        self.approvals.open().remove(&self.key);
    }
}

/// Checks `row`'s rules for `peer` (the row has rules).
pub fn check(row: &SessionRow, peer: &Peer, purpose: Purpose<'_>, approvals: &Approvals) -> Check {
    let rules = &row.rules;
    let Some(pin) = peer.pin.as_ref() else {
        return refused(
            AuditOutcome::RefusedUnknownCaller,
            "caller rules: the calling process cannot be pinned".into(),
            "refused: this session has caller rules and the daemon cannot pin the calling process (pidfd, Linux 5.3 or later)".into(),
        );
    };
    if !rules.allow_exe.is_empty() && matches!(purpose, Purpose::Reveal) {
        if let Err(why) = allowed_exe(rules, pin) {
            // As `list` shows the rule.
            let listed: Vec<&str> = rules.allow_exe.iter().map(|a| a.path.as_str()).collect();
            let rule = format!("allow-exe {}", listed.join(" "));
            return refused(
                AuditOutcome::RefusedAllowExe,
                rule,
                format!(
                    "refused a plaintext key for `{}`: {why}, and this session allows only {}; run it from an allowed program, or add the key again with that program in --allow-exe (docs/callers.md)",
                    row.tool,
                    paths(rules)
                ),
            );
        }
    }
    if !rules.confirm {
        return Check::Pass;
    }
    let (kind, holder) = match purpose {
        Purpose::Reveal => (
            Kind::Tree,
            pin.session_leader()
                .map(Arc::new)
                .unwrap_or_else(|| pin.clone()),
        ),
        Purpose::StandIn(bound) => (Kind::StandIn, bound.clone()),
    };
    if approvals.holds(&row.id, kind, holder.pid()) {
        return Check::Pass;
    }
    Check::Ask(Box::new(Ask {
        session_id: row.id.clone(),
        kind,
        holder,
        question: question(row, peer, purpose),
    }))
}

fn refused(outcome: AuditOutcome, rule: String, message: String) -> Check {
    Check::Refused {
        outcome,
        rule,
        error: RpcError::new(code::REFUSED, message),
    }
}

fn paths(rules: &CallerRules) -> String {
    let p: Vec<&str> = rules.allow_exe.iter().map(|a| a.path.as_str()).collect();
    p.join(", ")
}

/// Whether the caller's running file, or an ancestor's, is allowed.
///
/// An allowed entry counts only while its path still names that very file
/// (same device and inode): an inode number is given to a new file once
/// the old one is gone, so a file replaced at its path (an upgrade) must
/// not leave its number allowed for whatever file gets it next. While the
/// path names (dev, ino), no other file has that number (a removed file
/// that a process still runs keeps its number until it closes), so a
/// caller running (dev, ino) runs the file at the path, or a hard link.
fn allowed_exe(rules: &CallerRules, caller: &Arc<ProcessPin>) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let live: Vec<(u64, u64)> = rules
        .allow_exe
        .iter()
        .filter_map(|a| {
            let m = std::fs::metadata(&a.path).ok()?;
            (m.dev() == a.dev && m.ino() == a.ino).then_some((a.dev, a.ino))
        })
        .collect();
    if live.is_empty() {
        return Err("the allowed files are no longer at their paths (replaced or removed since the key was added; add it again to allow the new ones)".into());
    }
    let mut cur = caller.clone();
    // Deeper than any real tree; a loop cannot happen (each step is a
    // live parent), this only bounds the work.
    for _ in 0..64 {
        if cur.exe_id().is_some_and(|id| live.contains(&id)) {
            return Ok(());
        }
        match cur.parent() {
            Some(p) => cur = Arc::new(p),
            None => break,
        }
    }
    Err("neither the calling program nor any program it was started from is allowed".into())
}

/// The one-line question: what is asked for, by which program, where.
fn question(row: &SessionRow, peer: &Peer, purpose: Purpose<'_>) -> String {
    let what = match purpose {
        Purpose::Reveal => "reveal the key",
        Purpose::StandIn(_) => "issue a proxy stand-in",
    };
    let exe = peer
        .exe
        .as_deref()
        .map(|e| e.display().to_string())
        .unwrap_or_else(|| "an unknown program".into());
    let cwd = peer
        .cwd
        .as_deref()
        .map(|c| c.display().to_string())
        .unwrap_or_else(|| "?".into());
    // The CLI asks for whoever ran it: name that program too (the first
    // ancestor that is neither a shell nor session-vault).
    let by = peer
        .pin
        .as_ref()
        .filter(|_| {
            peer.exe
                .as_deref()
                .and_then(|e| e.file_name())
                .is_some_and(|n| n == "session-vault")
        })
        .and_then(|pin| ProcessPin::agent_of(pin, peer.exe.as_deref()).ok())
        .and_then(|a| {
            let exe = std::fs::read_link(format!("/proc/{}/exe", a.pid())).ok()?;
            (!a.exited()).then(|| format!(" run by {} (pid {})", exe.display(), a.pid()))
        })
        .unwrap_or_default();
    one_line(&format!(
        "session-vault: {what} of `{}` ({}) to {exe} (pid {}){by} in {cwd}?",
        row.tool,
        row.scope.as_db_str(),
        peer.pid.unwrap_or(0),
    ))
}

/// Control characters (a newline in a directory's name) escaped.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The user's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    NoProgram,
    TimedOut(u64),
    Failed(String),
}

impl Answer {
    /// The audit record's rule.
    pub fn rule(&self) -> String {
        match self {
            Answer::Yes => "confirm: yes".into(),
            Answer::No => "confirm: no".into(),
            Answer::NoProgram => "confirm: no askpass program".into(),
            Answer::TimedOut(s) => format!("confirm: no answer in {s} s"),
            Answer::Failed(_) => "confirm: askpass failed".into(),
        }
    }

    /// The caller's refusal (exit 5).
    pub fn error(&self) -> RpcError {
        let vars = "SESSION_VAULT_ASKPASS (or SSH_ASKPASS)";
        let why = match self {
            Answer::Yes => "confirmed".to_owned(),
            Answer::No => format!("the user said no (the askpass program named by {vars})"),
            Answer::NoProgram => format!("this session needs the user's yes (add --confirm) and the daemon has no askpass program: set {vars} in the environment the daemon starts from, e.g. SESSION_VAULT_ASKPASS=/usr/bin/ssh-askpass, then restart it with `session-vault daemon stop`"),
            Answer::TimedOut(s) => format!("the askpass program named by {vars} gave no answer in {s} s"),
            Answer::Failed(e) => format!("the askpass program named by {vars} could not be run ({e})"),
        };
        RpcError::new(code::REFUSED, format!("refused: {why}; nothing was served"))
    }
}

/// The askpass program from the daemon's own environment.
fn askpass_program() -> Option<PathBuf> {
    ASKPASS_VARS
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Asks the user through the askpass program: the question as its one
/// argument, `SSH_ASKPASS_PROMPT=confirm`, exit 0 = yes. No answer within
/// `timeout` is a no (the program is killed). Awaits without blocking a
/// worker: other clients are served meanwhile.
async fn ask_user(ask: &Ask, timeout: Duration) -> Answer {
    let Some(program) = askpass_program() else {
        warn!(session = %ask.session_id, "confirm: no askpass program");
        return Answer::NoProgram;
    };
    let child = tokio::process::Command::new(&program)
        .arg(&ask.question)
        .env("SSH_ASKPASS_PROMPT", "confirm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            warn!(program = %program.display(), error = %e, "confirm: cannot run the askpass program");
            return Answer::Failed(format!("{}: {e}", program.display()));
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) if st.success() => Answer::Yes,
        Ok(Ok(_)) => Answer::No,
        Ok(Err(e)) => Answer::Failed(e.to_string()),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Answer::TimedOut(timeout.as_secs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use sv_core::rules::AllowedExe;

    fn allowing(paths: &[&std::path::Path]) -> CallerRules {
        CallerRules {
            confirm: false,
            allow_exe: paths
                .iter()
                .map(|p| {
                    let m = std::fs::metadata(p).unwrap();
                    AllowedExe {
                        path: p.to_str().unwrap().to_owned(),
                        dev: m.dev(),
                        ino: m.ino(),
                    }
                })
                .collect(),
        }
    }

    fn sleeper() -> (std::process::Child, Arc<ProcessPin>) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pin = Arc::new(ProcessPin::open(child.id() as i32).unwrap());
        (child, pin)
    }

    #[test]
    fn an_allowed_file_allows_its_process_and_descendants_only() {
        let me = std::env::current_exe().unwrap();
        let (mut child, pin) = sleeper();
        // This test's own binary is the child's parent.
        assert_eq!(allowed_exe(&allowing(&[&me]), &pin), Ok(()));
        let own = Arc::new(ProcessPin::open(std::process::id() as i32).unwrap());
        assert_eq!(allowed_exe(&allowing(&[&me]), &own), Ok(()));
        // A copy of it is another file: allows nothing.
        let d = tempfile::tempdir().unwrap();
        let copy = d.path().join("copy");
        std::fs::copy(&me, &copy).unwrap();
        let e = allowed_exe(&allowing(&[&copy]), &pin).unwrap_err();
        assert!(e.contains("neither"), "{e}");
        // An entry whose path now names another file counts for nothing,
        // even for the process still running the old one.
        // (Written beside it and renamed over it, as package managers do:
        // the old file still holds its inode number when the new one gets
        // one.)
        let rules = allowing(&[&copy]);
        std::fs::write(d.path().join("new"), b"new").unwrap();
        std::fs::rename(d.path().join("new"), &copy).unwrap();
        let e = allowed_exe(&rules, &pin).unwrap_err();
        assert!(e.contains("no longer"), "{e}");
        child.kill().unwrap();
        child.wait().unwrap();
        // An exited process is no one's descendant.
        assert!(allowed_exe(&allowing(&[&me]), &pin).is_err());
    }

    #[test]
    fn a_yes_holds_while_its_process_lives() {
        let (mut child, pin) = sleeper();
        let approvals = Approvals::default();
        let ask = Ask {
            session_id: "s1".into(),
            kind: Kind::Tree,
            holder: pin.clone(),
            question: String::new(),
        };
        assert!(!approvals.holds("s1", Kind::Tree, pin.pid()));
        approvals.grant(&ask);
        assert!(approvals.holds("s1", Kind::Tree, pin.pid()));
        assert!(!approvals.holds("s2", Kind::Tree, pin.pid()), "per session");
        assert!(!approvals.holds("s1", Kind::StandIn, pin.pid()), "per kind");
        assert!(!approvals.holds("s1", Kind::Tree, pin.pid() + 1));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !approvals.holds("s1", Kind::Tree, pin.pid()),
            "gone with it"
        );
        assert!(approvals.entries().is_empty());
        approvals.grant(&ask);
        assert!(approvals.entries().is_empty(), "no yes for the dead");
    }

    #[test]
    fn questions_stay_on_one_line() {
        assert_eq!(one_line("a\nb\u{1b}c"), "a\\nb\\u{1b}c");
        let e = Answer::NoProgram.error();
        assert_eq!(e.code, code::REFUSED);
        assert!(e.message.contains("SESSION_VAULT_ASKPASS"), "{}", e.message);
        assert!(Answer::No.error().message.contains("SSH_ASKPASS"));
        assert_eq!(Answer::TimedOut(60).rule(), "confirm: no answer in 60 s");
    }
}
