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
#[path = "../../../fuzz/checks/quote.rs"]
mod quote;
#[allow(dead_code)]
#[path = "../../../fuzz/checks/scope.rs"]
mod scope;

#[test]
fn quote_inputs_round_trip() {
    for (path, data) in inputs("quote") {
        eprintln!("{}", path.display());
        quote::check(&data);
    }
}

#[test]
fn scope_inputs_agree() {
    for (path, data) in inputs("scope") {
        eprintln!("{}", path.display());
        scope::check(&data);
    }
}
