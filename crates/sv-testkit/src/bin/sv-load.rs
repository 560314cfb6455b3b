//! `sv-load rps|stream|hold --url URL [--ca FILE] [--header 'Name: value']…`:
//! the keep-alive load client of bench/proxy.sh (sv_testkit::load). Prints
//! one JSON object with the figures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sv_testkit::load::{hold_streams, requests_per_second, stream_delays, Target};

#[derive(Parser)]
#[command(about = "Keep-alive load client for the proxy benchmark (loopback targets)")]
struct Args {
    /// http://127.0.0.1:PORT/PATH or https://localhost:PORT/PATH
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080/v1/messages"
    )]
    url: String,
    /// The CA to trust for an https URL (the mock's ca.pem).
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    /// An extra request header, `Name: value` (repeatable).
    #[arg(long = "header", global = true)]
    headers: Vec<String>,
    /// Client runtime threads.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Small requests, closed loop: requests/s and latency.
    Rps {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
    },
    /// Streams one after another: first-event time and per-event delay.
    Stream {
        #[arg(long, default_value_t = 10)]
        streams: usize,
        #[arg(long, default_value_t = 500)]
        events: u32,
        #[arg(long, default_value_t = 1000)]
        interval_us: u64,
    },
    /// Many streams open at once for a while (memory with open streams).
    Hold {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 100_000)]
        interval_us: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sv-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> std::io::Result<serde_json::Value> {
    let mut target = Target::parse(&args.url, args.ca.as_deref())?;
    for h in &args.headers {
        let (k, v) = h.split_once(':').ok_or_else(|| {
            std::io::Error::other(format!("--header {h:?}: expected Name: value"))
        })?;
        target
            .headers
            .push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.mode {
            Mode::Rps {
                clients,
                seconds,
                warmup,
            } => {
                requests_per_second(
                    &target,
                    clients,
                    Duration::from_secs_f64(warmup),
                    Duration::from_secs_f64(seconds),
                )
                .await
            }
            Mode::Stream {
                streams,
                events,
                interval_us,
            } => stream_delays(&target, streams, events, Duration::from_micros(interval_us)).await,
            Mode::Hold {
                clients,
                seconds,
                interval_us,
            } => {
                hold_streams(
                    &target,
                    clients,
                    Duration::from_secs_f64(seconds),
                    Duration::from_micros(interval_us),
                )
                .await
            }
        }
    })
}
