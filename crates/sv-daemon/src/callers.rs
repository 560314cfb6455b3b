//! Callers as the kernel sees them (docs/design.md §11).
//!
//! Every request is attributed to the process that sent that message, not
//! the one that opened the connection: a connection can be inherited by a
//! forked child or handed to another process over `SCM_RIGHTS`. The frame
//! reader gives each frame its sender ([`Sender`], from `SCM_CREDENTIALS`
//! and `SCM_PIDFD` on Linux); [`Callers`] turns it into the [`Peer`] that
//! scope, the uid check, the caller rules and the audit record use. A frame
//! whose sender the kernel did not name is refused, never served to the
//! connector.
//!
//! The agent-tree rule: `exec --proxy` runs its command in a new user
//! namespace of its own (mapping only the user's uid and gid), which every
//! descendant inherits and none can leave: entering an ancestor user
//! namespace takes `CAP_SYS_ADMIN` there. A caller whose user namespace is
//! not the daemon's own is inside an agent tree, and may only do what
//! [`allowed_in_agent_tree`] lists.

use crate::peer::Peer;
use crate::platform::{CwdProbe, Sender, UserNamespace};
use std::sync::Arc;
use sv_core::ops::AuditOutcome;
use sv_core::protocol::{code, method, RpcError};

/// What an agent tree may ask for: nothing that reveals a key or changes
/// the vault; its own stand-ins are served (docs/design.md §11).
pub fn allowed_in_agent_tree(m: &str) -> bool {
    matches!(
        m,
        method::STATUS | method::LOCK | method::LIST | method::STAND_INS
    )
}

/// The refusal of `method` to a caller inside an agent tree, or `None`
/// when the caller may ask for it.
pub fn agent_tree_refusal(m: &str, peer: &Peer) -> Option<RpcError> {
    if peer.outside_agent_trees() || allowed_in_agent_tree(m) {
        return None;
    }
    let what = match m {
        method::GET => "a plaintext key (get, env, exec without --proxy)",
        _ => "this request",
    };
    let why = match peer.agent_tree {
        Some(true) => "the calling process is inside an agent tree (a command run by `session-vault exec --proxy`)",
        _ => "the daemon cannot tell whether the calling process is inside an agent tree",
    };
    Some(RpcError::new(
        code::REFUSED,
        format!(
            "refused {what}: {why}; run it from your own shell, outside the agent (docs/callers.md)"
        ),
    ))
}

/// Why a frame was not attributed to a process.
#[derive(Debug)]
pub enum Unknown {
    /// The kernel gave no credentials with it.
    NoCredentials,
    /// Its bytes came from two processes.
    MixedSenders,
    /// Its sender has exited, or its pid cannot be pinned to it (Linux
    /// pins senders; elsewhere the connector is the sender).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Gone(i32),
    /// Its sender runs as another user.
    OtherUser(Box<Peer>),
    /// Its sender is not the process the connection is pinned to (the
    /// first that sent on it): docs/callers.md, "One connection, one
    /// process".
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Newcomer(i32),
}

impl Unknown {
    /// The caller's answer.
    pub fn error(&self) -> RpcError {
        match self {
            Unknown::OtherUser(_) => RpcError::new(
                code::FORBIDDEN,
                "this session-vault daemon belongs to another user",
            ),
            Unknown::MixedSenders => RpcError::new(
                code::REFUSED,
                "refused: the request's bytes were written by two different processes; send each request from one process",
            ),
            Unknown::Newcomer(_) => RpcError::new(
                code::REFUSED,
                "refused: another process already uses this connection to session-vault (a connection inherited or passed on); open a connection of your own",
            ),
            Unknown::NoCredentials | Unknown::Gone(_) => RpcError::new(
                code::REFUSED,
                "refused: the daemon cannot tell which process sent this request (it has exited, or the kernel did not say); send requests from a process that waits for the answer",
            ),
        }
    }

    /// The audit record's outcome and who it names.
    pub fn audited(self) -> (AuditOutcome, Peer) {
        match self {
            Unknown::OtherUser(peer) => (AuditOutcome::RefusedUid, *peer),
            Unknown::Gone(pid) | Unknown::Newcomer(pid) => {
                (AuditOutcome::RefusedUnknownCaller, nobody(Some(pid)))
            }
            _ => (AuditOutcome::RefusedUnknownCaller, nobody(None)),
        }
    }
}

fn nobody(pid: Option<i32>) -> Peer {
    Peer {
        uid: u32::MAX,
        pid,
        cwd: None,
        exe: None,
        pin: None,
        agent_tree: None,
    }
}

/// The caller behind each frame of one connection. Re-reading a process
/// from `/proc` costs a directory open and several reads: that is done
/// only when the sender changes; for each frame of the same sender only
/// its directory is read again (through the cheap [`CwdProbe`] path),
/// after checking through its pidfd that it still lives.
pub struct Callers {
    /// The connector, as read at accept: the caller of every frame where
    /// the kernel names no sender per message (not Linux).
    connector: Peer,
    /// The daemon's uid.
    uid: u32,
    /// The daemon's own user namespace (Linux).
    own_userns: Option<UserNamespace>,
    current: Option<Current>,
}

struct Current {
    // Compared with each frame's sender on Linux; elsewhere there is one.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    sender: Arc<Sender>,
    peer: Peer,
    probe: CwdProbe,
}

/// The daemon's own user namespace, read once. A daemon that runs in a
/// user namespace other than the first one says so in its log: callers in
/// the namespace it was started from then count as agent trees, and a
/// daemon started from inside an agent tree would take that tree for the
/// user's own (docs/callers.md).
fn own_user_namespace() -> Option<UserNamespace> {
    static OWN: std::sync::OnceLock<Option<UserNamespace>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        let own = crate::platform::own_user_namespace();
        #[cfg(target_os = "linux")]
        if let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") {
            let first: Vec<&str> = map.split_whitespace().collect();
            if first != ["0", "0", "4294967295"] {
                tracing::warn!("this daemon runs inside a user namespace (a container, or an agent tree): callers outside it count as agent trees; start the daemon from your own shell");
            }
        }
        own
    })
    .clone()
}

impl Callers {
    pub fn new(connector: Peer, uid: u32) -> Self {
        Callers {
            connector,
            uid,
            own_userns: own_user_namespace(),
            current: None,
        }
    }

    /// The connector (for the log lines about the connection itself).
    pub fn connector(&self) -> &Peer {
        &self.connector
    }

    /// The process that sent a frame, as the kernel names it.
    #[cfg(target_os = "linux")]
    pub fn identify(&mut self, sender: Option<Arc<Sender>>) -> Result<&Peer, Unknown> {
        let sender = sender.ok_or(Unknown::NoCredentials)?;
        if sender.newcomer {
            return Err(Unknown::Newcomer(sender.pid));
        }
        let same = matches!(&self.current, Some(c) if c.sender.same_process(&sender));
        if !same && sender.same_as_pinned {
            // The pinned pid, but the pinned process was found gone (or
            // changed its uid): whoever holds the pid now is not it.
            self.current = None;
            return Err(Unknown::Gone(sender.pid));
        }
        if same {
            // The same pid as the last sender: the same process while
            // that one lives (its pidfd, the peer's pin, holds the pid).
            let lives = |c: &Current| c.peer.pin.as_ref().is_some_and(|p| !p.exited());
            if !self.current.as_ref().is_some_and(lives) {
                self.current = None;
                return Err(Unknown::Gone(sender.pid));
            }
        } else {
            self.current = None;
            let (dir, pidfd) =
                crate::platform::pinned_proc_dir(&sender).ok_or(Unknown::Gone(sender.pid))?;
            let probe = CwdProbe::over(Some(dir));
            // The executable and the user namespace are read once per
            // sender. An exec keeps the pid (and the pidfd): the new
            // executable is seen on the next connection (the CLI's
            // connections are close-on-exec). The namespace only changes
            // by the process's own unshare: `exec --proxy` makes its agent
            // tree before it connects (sv-cli's agent_tree.rs), and every
            // process of the tree is born in it.
            let agent_tree = match (probe.user_namespace(), &self.own_userns) {
                (Some(theirs), Some(ours)) => Some(&theirs != ours),
                _ => None,
            };
            let peer = Peer {
                uid: sender.uid,
                pid: Some(sender.pid),
                cwd: None,
                exe: probe.exe(),
                // What a stand-in is bound to (docs/design.md §10): the
                // sender, by its pidfd.
                pin: Some(Arc::new(crate::pidfd::ProcessPin::from_pidfd(
                    sender.pid, pidfd,
                ))),
                agent_tree,
            };
            self.current = Some(Current {
                sender: sender.clone(),
                peer,
                probe,
            });
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(Unknown::NoCredentials);
        };
        cur.peer.cwd = cur.probe.read();
        if cur.peer.uid != self.uid {
            return Err(Unknown::OtherUser(Box::new(cur.peer.clone())));
        }
        Ok(&cur.peer)
    }

    /// The process that sent a frame: where the kernel names no sender
    /// per message, the connector, its directory read again per frame.
    #[cfg(not(target_os = "linux"))]
    pub fn identify(&mut self, sender: Option<Arc<Sender>>) -> Result<&Peer, Unknown> {
        let _ = (sender.ok_or(Unknown::NoCredentials)?, &self.own_userns);
        let pid = self.connector.pid;
        let probe = self.current.get_or_insert_with(|| Current {
            sender: Arc::new(Sender {}),
            peer: Peer {
                agent_tree: Some(false),
                ..self.connector.clone()
            },
            probe: CwdProbe::new(pid.unwrap_or(0)),
        });
        if pid.is_some() {
            probe.peer.cwd = probe.probe.read();
        }
        if probe.peer.uid != self.uid {
            return Err(Unknown::OtherUser(Box::new(probe.peer.clone())));
        }
        Ok(&probe.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(agent_tree: Option<bool>) -> Peer {
        Peer {
            agent_tree,
            ..nobody(Some(1))
        }
    }

    #[test]
    fn an_agent_tree_may_only_lock_list_and_ask_the_status() {
        let refused = [
            method::GET,
            method::ADD,
            method::REMOVE,
            method::UNLOCK,
            method::REKEY,
            method::LOG,
            method::SHUTDOWN,
            "a-method-added-later",
        ];
        for m in refused {
            for inside in [Some(true), None] {
                let e = agent_tree_refusal(m, &peer(inside)).expect(m);
                assert_eq!(e.code, code::REFUSED, "{m}");
            }
            assert!(agent_tree_refusal(m, &peer(Some(false))).is_none(), "{m}");
        }
        for m in [
            method::STATUS,
            method::LOCK,
            method::LIST,
            method::STAND_INS,
        ] {
            assert!(agent_tree_refusal(m, &peer(Some(true))).is_none(), "{m}");
        }
        let e = agent_tree_refusal(method::GET, &peer(Some(true))).unwrap();
        assert!(e.message.contains("plaintext key"), "{}", e.message);
    }
}
