//! A session's caller rules (docs/design.md §11): `add --confirm` and
//! `add --allow-exe PATH…`. What they are, how they are stored and shown;
//! the daemon checks them (its `rules.rs`), since only it can ask the
//! kernel who is calling.
//!
//! An allowed executable is kept as the kernel identifies a file: the
//! device and inode its path resolved to when the session was added, with
//! that canonical path for people to read. A caller matches by the file it
//! runs (`/proc/PID/exe`), never by a name.
//!
//! ```
//! use sv_core::rules::{AllowedExe, CallerRules};
//! let r = CallerRules {
//!     confirm: true,
//!     allow_exe: vec![AllowedExe { path: "/usr/bin/node".into(), dev: 2049, ino: 1234 }],
//! };
//! assert_eq!(r.summary(), "confirm, allow-exe /usr/bin/node");
//! let stored = r.allow_exe_to_db();
//! assert_eq!(CallerRules::allow_exe_from_db(&stored), r.allow_exe);
//! assert!(CallerRules::default().is_empty());
//! ```

use serde::{Deserialize, Serialize};

/// The caller rules of one session. Empty (the default) for a session
/// added without `--confirm` or `--allow-exe`: such a session's lookups
/// check nothing more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerRules {
    /// `--confirm`: a new process tree, and a new stand-in, need the
    /// user's yes through an askpass program.
    #[serde(default)]
    pub confirm: bool,
    /// `--allow-exe`: a plaintext key goes only to a caller that runs one
    /// of these files, or whose ancestor does.
    #[serde(default)]
    pub allow_exe: Vec<AllowedExe>,
}

/// An executable file as the kernel identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedExe {
    /// The canonical path it had when the session was added (for people:
    /// the match is by `dev` and `ino`).
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

impl CallerRules {
    pub fn is_empty(&self) -> bool {
        !self.confirm && self.allow_exe.is_empty()
    }

    /// Whether `(dev, ino)` is one of the allowed executables.
    pub fn allows(&self, dev: u64, ino: u64) -> bool {
        self.allow_exe.iter().any(|a| a.dev == dev && a.ino == ino)
    }

    /// The rules in one line, as `list` shows them: `confirm, allow-exe
    /// /usr/bin/node /usr/bin/python3`; `-` for none.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.confirm {
            parts.push("confirm".to_owned());
        }
        if !self.allow_exe.is_empty() {
            let paths: Vec<&str> = self.allow_exe.iter().map(|a| a.path.as_str()).collect();
            parts.push(format!("allow-exe {}", paths.join(" ")));
        }
        if parts.is_empty() {
            return "-".into();
        }
        parts.join(", ")
    }

    /// The allowed executables as the store keeps them: one per line,
    /// `DEV INO PATH` (a path holding a newline is refused at `add`).
    pub fn allow_exe_to_db(&self) -> String {
        self.allow_exe
            .iter()
            .map(|a| format!("{} {} {}", a.dev, a.ino, a.path))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The inverse of [`CallerRules::allow_exe_to_db`]; a line that does
    /// not parse is skipped (it could match nothing).
    pub fn allow_exe_from_db(text: &str) -> Vec<AllowedExe> {
        text.lines()
            .filter_map(|line| {
                let mut f = line.splitn(3, ' ');
                let dev = f.next()?.parse().ok()?;
                let ino = f.next()?.parse().ok()?;
                let path = f.next()?.to_owned();
                Some(AllowedExe { path, dev, ino })
            })
            .collect()
    }

    /// The paths of the allowed executables in stored form (`list`'s
    /// rows carry only the paths).
    pub fn paths_from_db(text: &str) -> impl Iterator<Item = &str> {
        text.lines().filter_map(|l| l.splitn(3, ' ').nth(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_paths_with_spaces() {
        let r = CallerRules {
            confirm: false,
            allow_exe: vec![
                AllowedExe {
                    path: "/opt/My Tools/agent".into(),
                    dev: 1,
                    ino: u64::MAX,
                },
                AllowedExe {
                    path: "/usr/bin/node".into(),
                    dev: 64769,
                    ino: 7,
                },
            ],
        };
        let db = r.allow_exe_to_db();
        assert_eq!(CallerRules::allow_exe_from_db(&db), r.allow_exe);
        assert_eq!(
            CallerRules::paths_from_db(&db).collect::<Vec<_>>(),
            ["/opt/My Tools/agent", "/usr/bin/node"]
        );
        assert!(r.allows(1, u64::MAX) && !r.allows(1, 7));
        assert_eq!(r.summary(), "allow-exe /opt/My Tools/agent /usr/bin/node");
        assert!(CallerRules::allow_exe_from_db("").is_empty());
        assert!(CallerRules::allow_exe_from_db("x y /p\n1 2").is_empty());
        assert_eq!(CallerRules::default().summary(), "-");
    }
}
