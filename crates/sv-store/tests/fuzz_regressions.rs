//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md.

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
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

#[allow(dead_code)]
#[path = "../../../fuzz/checks/vault_open.rs"]
mod vault_open;

#[test]
fn damaged_vaults_open_or_fail_cleanly() {
    for (path, data) in inputs("vault_open") {
        eprintln!("{}", path.display());
        vault_open::check(&data);
    }
}
