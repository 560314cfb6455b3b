//! Replays the fuzz seed corpus and every input the fuzzers ever crashed on
//! (fuzz/corpus/<target>/, fuzz/regressions/<target>/) through the same
//! property checks the fuzz targets run, so `cargo test` keeps them fixed
//! without nightly or libFuzzer. See docs/evidence.md.

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
use replay::inputs;

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
