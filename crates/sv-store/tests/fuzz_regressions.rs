//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md.

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::replay;

#[allow(dead_code)]
#[path = "../../../fuzz/checks/vault_open.rs"]
mod vault_open;

#[test]
fn damaged_vaults_open_or_fail_cleanly() {
    replay("vault_open", vault_open::check);
}
