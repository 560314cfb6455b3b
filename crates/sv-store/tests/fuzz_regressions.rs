//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md.

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::inputs;

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
