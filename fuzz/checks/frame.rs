//! Property of the daemon's frame handling (`sv_daemon::handle_frame`): for
//! any bytes, the answer is exactly one JSON-RPC 2.0 response line (an
//! object with `"jsonrpc":"2.0"`, an `id`, and exactly one of `result` and
//! `error`), and nothing panics.
//!
//! Two vaults are held for the whole run, both created once through
//! `handle_frame` itself:
//! - `open`: unlocked at start-up with an `unlock` frame (Argon2id, 64 MiB,
//!   once) and holding a global and a project `claude` session, so `get`
//!   reaches decryption;
//! - `locked`: a copy of the same file that is never unlocked.
//!
//! The first input byte picks the vault (even: open, odd: locked); the rest
//! is split into lines, each one frame. Frames whose method would change
//! the lock state are skipped: `lock` on the open vault (every later input
//! would then need Argon2 to unlock again) and `unlock` on the locked one
//! (each try costs a 64 MiB Argon2id run, ~0.3 s: fuzzing would crawl). An
//! `unlock` on the open vault is served (it returns at once) and `lock` on
//! the locked vault is a no-op, so both handlers are still exercised.

use std::path::PathBuf;
use sv_daemon::{handle_frame, vault_for_harness, Peer, Vault};

pub const PASSPHRASE: &str = "fuzz passphrase";

pub struct Harness {
    open: Vault,
    locked: Vault,
    peer: Peer,
    _dirs: Vec<tempfile::TempDir>,
}

fn call(vault: &Vault, peer: &Peer, frame: &str) -> serde_json::Value {
    let out = handle_frame(vault, frame.as_bytes(), peer);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("response is JSON");
    assert!(v.get("error").is_none(), "setup frame {frame} failed: {v}");
    v
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let root = if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        };
        let a = tempfile::tempdir_in(root).expect("tempdir");
        let b = tempfile::tempdir_in(root).expect("tempdir");
        let project = a.path().join("project");
        std::fs::create_dir_all(project.join("sub")).expect("project dir");
        let project = std::fs::canonicalize(&project).expect("canonical project");
        let peer = Peer {
            uid: 1000,
            pid: Some(4242),
            cwd: Some(project.join("sub")),
            exe: Some(PathBuf::from("/usr/bin/fuzz")),
            pin: None,
            agent_tree: Some(false),
        };
        let open = vault_for_harness(a.path()).expect("open vault");
        call(
            &open,
            &peer,
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"unlock","params":{{"passphrase":"{PASSPHRASE}"}}}}"#
            ),
        );
        let mut h = Harness {
            open,
            locked: vault_for_harness(b.path()).expect("vault"),
            peer,
            _dirs: vec![],
        };
        h.seed();
        h.open.checkpoint();
        let c = tempfile::tempdir_in(root).expect("tempdir");
        std::fs::copy(a.path().join("vault.db"), c.path().join("vault.db")).expect("copy vault");
        h.locked = vault_for_harness(c.path()).expect("locked vault");
        h._dirs = vec![a, b, c];
        h
    }

    pub fn run(&self, data: &[u8]) {
        let Some((&which, rest)) = data.split_first() else {
            return;
        };
        let (vault, skip) = if which % 2 == 0 {
            (&self.open, "lock")
        } else {
            (&self.locked, "unlock")
        };
        let mut removed = false;
        for frame in rest.split(|&b| b == b'\n').take(16) {
            let method = method_of(frame);
            if method.as_deref() == Some(skip) {
                continue;
            }
            removed |= method.as_deref() == Some("remove");
            let out = handle_frame(vault, frame, &self.peer);
            check_response(&out);
        }
        if removed && which % 2 == 0 {
            // Keep later inputs reaching decryption.
            self.seed();
        }
    }

    /// The open vault's answer to one frame (for regression tests).
    #[allow(dead_code)]
    pub fn answer(&self, frame: &str) -> serde_json::Value {
        let out = handle_frame(&self.open, frame.as_bytes(), &self.peer);
        check_response(&out);
        serde_json::from_slice(&out).expect("response is JSON")
    }

    fn seed(&self) {
        let project = self
            .peer
            .cwd
            .as_ref()
            .and_then(|c| c.parent())
            .expect("project");
        call(
            &self.open,
            &self.peer,
            r#"{"jsonrpc":"2.0","id":2,"method":"add","params":{"tool":"claude","project":null,"ttl":0,"values":[{"name":"ANTHROPIC_API_KEY","value":"sk-ant-global"}]}}"#,
        );
        call(
            &self.open,
            &self.peer,
            &format!(
                r#"{{"jsonrpc":"2.0","id":3,"method":"add","params":{{"tool":"claude","project":{},"ttl":3600,"values":[{{"name":"ANTHROPIC_API_KEY","value":"sk-ant-project"}}]}}}}"#,
                serde_json::Value::String(project.display().to_string())
            ),
        );
    }
}

/// The method a frame names, read the way the daemon reads it.
fn method_of(frame: &[u8]) -> Option<String> {
    serde_json::from_slice::<sv_core::protocol::IncomingRequest<'_>>(frame)
        .ok()
        .map(|r| r.method)
}

fn check_response(out: &[u8]) {
    assert_eq!(out.last(), Some(&b'\n'), "response ends with a newline");
    assert!(
        !out[..out.len() - 1].contains(&b'\n'),
        "response is a single line"
    );
    let v: serde_json::Value = serde_json::from_slice(out).expect("response is JSON");
    let o = v.as_object().expect("response is an object");
    assert_eq!(o.get("jsonrpc").and_then(|j| j.as_str()), Some("2.0"));
    assert!(o.contains_key("id"), "response has an id");
    assert!(
        o.contains_key("result") != o.contains_key("error"),
        "exactly one of result and error: {v}"
    );
    if let Some(e) = o.get("error") {
        assert!(e["code"].is_i64(), "error code is an integer");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error has a message"
        );
    }
}
