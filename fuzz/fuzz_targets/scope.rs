//! Fuzz target `scope`: the property lives in `fuzz/checks/scope.rs`, shared
//! with the regression tests that replay fuzz/regressions/scope/ in `cargo test`.
#![no_main]

#[path = "../checks/scope.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
