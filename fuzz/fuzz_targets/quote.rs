//! Fuzz target `quote`: the property lives in `fuzz/checks/quote.rs`, shared
//! with the regression tests that replay fuzz/regressions/quote/ in `cargo test`.
#![no_main]

#[path = "../checks/quote.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
