//! Property of `sv_core::scope`: the store's pre-filter
//! (`covering_scopes`, matched against the stored `as_db_str` text) and the
//! matcher (`Scope::covers`, `ScopeMatcher::best`) agree on every path, so
//! fetching only the covering rows never serves a session the full scan
//! would not, nor misses one it would.
//!
//! Input: NUL-separated byte strings; the first is the working directory,
//! the rest are project scopes (a leading 0x01 byte makes the slot global).
//! Each is turned into a canonical absolute path (what `/proc/PID/cwd` and
//! `canonicalize` produce): empty, `.` and `..` segments are dropped. Bytes
//! need not be UTF-8.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use sv_core::scope::{covering_scopes, Scope, ScopeMatcher};

fn canonical(bytes: &[u8]) -> PathBuf {
    let mut p = PathBuf::from("/");
    for seg in bytes.split(|&b| b == b'/') {
        if !seg.is_empty() && seg != b"." && seg != b".." {
            p.push(OsStr::from_bytes(seg));
        }
    }
    p
}

pub fn check(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0).take(9);
    let cwd = canonical(parts.next().unwrap_or_default());
    let scopes: Vec<Scope> = parts
        .map(|b| match b.first() {
            Some(1) => Scope::Global,
            _ => Scope::Project(canonical(b)),
        })
        .collect();

    let covering = covering_scopes(&cwd);
    assert_eq!(covering.first().map(String::as_str), Some("global"));
    let listed = |s: &Scope| covering.iter().any(|c| *c == s.as_db_str());
    let mut storable = Vec::new();
    for s in &scopes {
        if let Scope::Project(p) = s {
            let Some(checked) = Scope::storable_project(p.clone()) else {
                // The daemon refuses to store it; it can never be fetched.
                assert!(p.to_str().is_none(), "canonical UTF-8 path refused: {p:?}");
                continue;
            };
            assert_eq!(&checked, s);
            if s.covers(&cwd) {
                assert!(s.specificity() <= Scope::Project(cwd.clone()).specificity());
            }
            // The stored text reads back as the same scope (what the store
            // does with every row it returns).
            assert_eq!(
                Scope::from_db_str(&s.as_db_str()).as_ref(),
                Some(s),
                "stored scope text does not read back as {p:?}"
            );
        }
        assert_eq!(
            listed(s),
            s.covers(&cwd),
            "pre-filter and matcher disagree: scope {s:?}, cwd {cwd:?}"
        );
        storable.push(s);
    }

    // The store fetches the covering rows, the matcher picks one: the same
    // winner as the matcher over every stored row.
    let all =
        ScopeMatcher::new(&cwd).best(storable.iter().enumerate().map(|(i, s)| (*s, i as i64, i)));
    let fetched = ScopeMatcher::new(&cwd).best(
        storable
            .iter()
            .enumerate()
            .filter(|(_, s)| listed(s))
            .map(|(i, s)| (*s, i as i64, i)),
    );
    assert_eq!(all, fetched, "cwd {cwd:?}");

    // Raw, non-canonical paths must not panic anything.
    let raw = Path::new(OsStr::from_bytes(data));
    let _ = covering_scopes(raw);
    let _ = Scope::Project(raw.to_owned()).covers(raw);
    let _ = Scope::Project(raw.to_owned()).specificity();
}
