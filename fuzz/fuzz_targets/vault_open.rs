//! Fuzz target `vault_open`: the property lives in `fuzz/checks/vault_open.rs`, shared
//! with the regression tests that replay fuzz/regressions/vault_open/ in `cargo test`.
#![no_main]

#[path = "../checks/vault_open.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
