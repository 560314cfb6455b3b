//! Fuzz target `frame`: one or more request lines through
//! `sv_daemon::handle_frame`, on an unlocked and on a locked vault. The
//! harness and the properties live in `fuzz/checks/frame.rs`, shared with
//! the regression tests that replay fuzz/regressions/frame/ in `cargo test`.
#![no_main]

#[path = "../checks/frame.rs"]
mod check;

use std::sync::OnceLock;

static HARNESS: OnceLock<check::Harness> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| HARNESS.get_or_init(check::Harness::new).run(data));
