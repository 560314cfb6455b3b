//! Time to open one sealed record (an API-key-sized value) with the vault
//! key, the cryptographic part of every lookup. BENCHMARKS.md quotes it
//! with RustCrypto's default backends and with those `.cargo/config.toml`
//! selects:
//!
//! ```sh
//! cargo run --release -p sv-core --example seal_bench
//! RUSTFLAGS= cargo run --release -p sv-core --example seal_bench   # defaults (an empty RUSTFLAGS replaces the config's flags)
//! ```
use std::time::Instant;
use sv_core::seal::{RecordBinding, VaultKey};
use sv_core::{Scope, SecretString};

fn main() {
    let mut bytes = [7u8; 32];
    let key = VaultKey::from_bytes(&mut bytes);
    let scope = Scope::Global;
    let binding = RecordBinding {
        session_id: "0b7e5f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        tool: "claude",
        var: "ANTHROPIC_API_KEY",
        scope: &scope,
    };
    // A dummy value the length of a real key's prefix and body.
    let sealed = key.seal(
        &binding,
        &SecretString::from("sk-ant-api03-benchmark-dummy-value-0123456789"),
        [1u8; 24],
    );
    let n = 200_000;
    for round in 1..=3 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(key.open(&binding, &sealed).expect("opens"));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("round {round}: {us:.2} µs per open ({n} opens)");
    }
}
