//! Which stored session serves a working directory (docs/design.md §4).
//!
//! A project session matches when the canonical working directory equals its
//! directory or lies inside it, compared by path components, so `/p/app`
//! never matches `/p/app-evil`. The longest matching project wins; a global
//! session is the fallback. Paths must already be canonical (symlinks
//! resolved): canonicalising is I/O and happens at the edges.
//!
//! ```
//! use sv_core::scope::{Scope, ScopeMatcher};
//! use std::path::Path;
//! let sessions = [(Scope::Global, "g"), (Scope::project("/p/app"), "app"), (Scope::project("/p/app/web"), "web")];
//! let m = ScopeMatcher::new(Path::new("/p/app/web/src"));
//! assert_eq!(m.best(sessions.iter().map(|(s, v)| (s, 0, *v))), Some("web"));
//! let m = ScopeMatcher::new(Path::new("/p/app-evil"));
//! assert_eq!(m.best(sessions.iter().map(|(s, v)| (s, 0, *v))), Some("g"));
//! ```

use std::path::{Component, Path, PathBuf};

/// Where a session may be served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Anywhere (the fallback).
    Global,
    /// Inside this canonical, absolute directory.
    Project(PathBuf),
}

/// The database spelling of [`Scope::Global`].
pub const GLOBAL: &str = "global";

impl Scope {
    pub fn project(p: impl Into<PathBuf>) -> Self {
        Scope::Project(p.into())
    }

    /// A project scope that can be stored and matched exactly: `None` when
    /// `p` is relative or not valid UTF-8. The database keeps scopes as
    /// text; a non-UTF-8 path would be stored lossily (`\xff` and `\xfe` both
    /// as U+FFFD) and could then never be served, so it is refused up front.
    ///
    /// ```
    /// use sv_core::scope::Scope;
    /// assert!(Scope::storable_project("/p/app".into()).is_some());
    /// assert!(Scope::storable_project("p/app".into()).is_none());
    /// ```
    pub fn storable_project(p: PathBuf) -> Option<Self> {
        (p.is_absolute() && p.to_str().is_some()).then_some(Scope::Project(p))
    }

    /// The text stored in the database and bound into the AEAD: `global` or
    /// the absolute path.
    pub fn as_db_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Scope::Global => GLOBAL.into(),
            Scope::Project(p) => p.to_string_lossy(),
        }
    }

    /// The inverse of [`Scope::as_db_str`]; `None` for a relative path.
    pub fn from_db_str(s: &str) -> Option<Self> {
        if s == GLOBAL {
            Some(Scope::Global)
        } else if Path::new(s).is_absolute() {
            Some(Scope::Project(PathBuf::from(s)))
        } else {
            None
        }
    }

    /// How specific the scope is: 0 for global, else 1 + the number of
    /// normal components, so a deeper project always beats a shallower one.
    pub fn specificity(&self) -> usize {
        match self {
            Scope::Global => 0,
            Scope::Project(p) => {
                1 + p
                    .components()
                    .filter(|c| matches!(c, Component::Normal(_)))
                    .count()
            }
        }
    }

    /// Whether this scope covers the canonical directory `cwd`.
    pub fn covers(&self, cwd: &Path) -> bool {
        match self {
            Scope::Global => true,
            // Path::starts_with compares whole components.
            Scope::Project(p) => cwd.starts_with(p),
        }
    }
}

/// The scopes that can cover `cwd`, as stored: `global`, then `cwd` and each
/// of its ancestors. A store can fetch just these rows instead of every
/// session of a tool. Ancestors that are not valid UTF-8 are left out: no
/// stored scope can name them (see [`Scope::storable_project`]), and their
/// lossy spelling could equal another directory's.
///
/// ```
/// use sv_core::scope::covering_scopes;
/// assert_eq!(covering_scopes(std::path::Path::new("/p/app")), ["global", "/p/app", "/p", "/"]);
/// ```
pub fn covering_scopes(cwd: &Path) -> Vec<String> {
    let mut out = vec![GLOBAL.to_owned()];
    out.extend(
        cwd.ancestors()
            .filter_map(|p| p.to_str().map(str::to_owned)),
    );
    out
}

/// Picks the session that serves one working directory.
pub struct ScopeMatcher<'a> {
    cwd: &'a Path,
}

impl<'a> ScopeMatcher<'a> {
    pub fn new(cwd: &'a Path) -> Self {
        ScopeMatcher { cwd }
    }

    /// The best of `candidates` (scope, tie-breaker, value): the most specific
    /// covering scope; among equals the highest tie-breaker (e.g. the newest
    /// creation time). `None` when nothing covers the directory.
    pub fn best<'s, T, I>(&self, candidates: I) -> Option<T>
    where
        I: IntoIterator<Item = (&'s Scope, i64, T)>,
    {
        candidates
            .into_iter()
            .filter(|(s, _, _)| s.covers(self.cwd))
            .max_by_key(|(s, tie, _)| (s.specificity(), *tie))
            .map(|(_, _, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pick(cwd: &str, scopes: &[Scope]) -> Option<usize> {
        ScopeMatcher::new(Path::new(cwd)).best(scopes.iter().enumerate().map(|(i, s)| (s, 0, i)))
    }

    #[test]
    fn components_not_prefixes() {
        let s = [Scope::project("/p/app")];
        assert_eq!(pick("/p/app", &s), Some(0));
        assert_eq!(pick("/p/app/src/x", &s), Some(0));
        assert_eq!(pick("/p/app-evil", &s), None);
        assert_eq!(pick("/p/ap", &s), None);
        assert_eq!(pick("/p", &s), None);
    }

    #[test]
    fn longest_wins_and_global_falls_back() {
        let s = [
            Scope::project("/p/app/web"),
            Scope::Global,
            Scope::project("/p/app"),
        ];
        assert_eq!(pick("/p/app/web/x", &s), Some(0));
        assert_eq!(pick("/p/app/api", &s), Some(2));
        assert_eq!(pick("/elsewhere", &s), Some(1));
    }

    #[test]
    fn newest_breaks_ties() {
        let a = Scope::project("/p/app");
        let b = Scope::project("/p/app");
        let m = ScopeMatcher::new(Path::new("/p/app"));
        assert_eq!(m.best([(&a, 10, "old"), (&b, 20, "new")]), Some("new"));
    }

    #[test]
    fn db_round_trip() {
        for s in [Scope::Global, Scope::project("/a b/c")] {
            assert_eq!(Scope::from_db_str(&s.as_db_str()), Some(s.clone()));
        }
        assert_eq!(Scope::from_db_str("relative/x"), None);
    }

    /// Found by the `scope` fuzz target: `/a/\xfe` listed the stored scope
    /// `/a/\u{FFFD}` (the lossy spelling of `/a/\xff`) as covering.
    #[test]
    fn non_utf8_paths_never_collide() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let ff = PathBuf::from(OsStr::from_bytes(b"/a/\xff"));
        let fe = PathBuf::from(OsStr::from_bytes(b"/a/\xfe/src"));
        assert_eq!(covering_scopes(&fe), ["global", "/a", "/"]);
        assert_eq!(Scope::storable_project(ff), None);
        assert_eq!(
            Scope::storable_project("/a/\u{FFFD}".into()),
            Some(Scope::project("/a/\u{FFFD}"))
        );
        assert!(!covering_scopes(&fe).contains(&"/a/\u{FFFD}".to_owned()));
    }

    fn seg() -> impl Strategy<Value = String> {
        "[a-z]{1,3}(-[a-z]{1,2})?"
    }

    fn abs_path() -> impl Strategy<Value = PathBuf> {
        proptest::collection::vec(seg(), 0..5)
            .prop_map(|v| PathBuf::from(format!("/{}", v.join("/"))))
    }

    proptest! {
        /// The covering scopes are exactly those that cover the directory.
        #[test]
        fn covering_scopes_agree_with_covers(p in abs_path(), c in abs_path()) {
            let listed = covering_scopes(&c).contains(&Scope::Project(p.clone()).as_db_str().into_owned());
            prop_assert_eq!(listed, Scope::Project(p).covers(&c));
        }

        /// A project covers exactly the directories whose components start
        /// with all of its components.
        #[test]
        fn covers_iff_component_prefix(p in abs_path(), c in abs_path()) {
            let pc: Vec<_> = p.components().collect();
            let cc: Vec<_> = c.components().collect();
            let expected = cc.len() >= pc.len() && cc[..pc.len()] == pc[..];
            prop_assert_eq!(Scope::Project(p.clone()).covers(&c), expected);
        }

        /// The winner covers the cwd and no covering candidate is deeper.
        #[test]
        fn best_is_deepest_covering(ps in proptest::collection::vec(abs_path(), 0..6), c in abs_path(), global in any::<bool>()) {
            let mut scopes: Vec<Scope> = ps.into_iter().map(Scope::Project).collect();
            if global { scopes.push(Scope::Global); }
            let m = ScopeMatcher::new(&c);
            match m.best(scopes.iter().map(|s| (s, 0, s))) {
                Some(w) => {
                    prop_assert!(w.covers(&c));
                    for s in &scopes {
                        if s.covers(&c) { prop_assert!(s.specificity() <= w.specificity()); }
                    }
                }
                None => prop_assert!(scopes.iter().all(|s| !s.covers(&c))),
            }
        }

        /// A sibling whose name merely extends the project's is never covered.
        #[test]
        fn sibling_with_suffix_never_matches(p in abs_path(), suffix in "[a-z-]{1,4}") {
            prop_assume!(p != Path::new("/"));
            let sibling = PathBuf::from(format!("{}{}", p.display(), suffix));
            prop_assert!(!Scope::Project(p).covers(&sibling));
        }
    }
}
