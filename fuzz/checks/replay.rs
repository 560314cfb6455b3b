//! The seed corpus and every input the fuzzers ever crashed on, for the
//! `cargo test` replays (crates/*/tests/fuzz_regressions.rs include this
//! file with `#[path]`).

use std::path::PathBuf;

/// Every file of fuzz/corpus/<target>/ and fuzz/regressions/<target>/,
/// sorted by path; panics when there is none (a moved corpus must fail).
pub fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() {
                let bytes = std::fs::read(&p).expect("read fuzz input");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fuzz inputs found for {target}");
    out
}

/// Runs `check` on every input of `target`, naming each on stderr first so
/// that the one a failure comes from is known.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    for (path, data) in inputs(target) {
        eprintln!("{}", path.display());
        check(&data);
    }
}
