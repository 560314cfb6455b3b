//! `sv-mock-provider --dir DIR [--plain] [--port N] …`: serves the mock
//! provider API (sv_testkit::mock) on 127.0.0.1, over TLS with a fresh test
//! CA unless `--plain`. Writes `DIR/ca.pem` (TLS only) and `DIR/port`, then
//! prints the port on stdout; requests go to `DIR/requests.jsonl`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sv_testkit::mock::{serve, MockConfig};
use sv_testkit::tls::TestCa;

#[derive(Parser)]
#[command(
    about = "A mock Anthropic / OpenAI / Gemini API for tests and benchmarks (loopback only)"
)]
struct Args {
    /// Directory for ca.pem, port, requests.jsonl and the `holding` marker.
    #[arg(long)]
    dir: PathBuf,
    /// Port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Plain HTTP instead of TLS.
    #[arg(long)]
    plain: bool,
    /// Offer HTTP/2 by ALPN besides HTTP/1.1.
    #[arg(long)]
    h2: bool,
    /// The reply text of every model request.
    #[arg(long)]
    text: Option<String>,
    /// A string appended to the reply text, split across two body writes.
    #[arg(long)]
    echo: Option<String>,
    /// Append the key each request carried to its reply text (split).
    #[arg(long)]
    echo_received_key: bool,
    /// Hold each model request open this long (the `holding` file exists meanwhile).
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    /// Claude: answer with a Bash tool call running this command first.
    #[arg(long)]
    tool_command: Option<String>,
    /// Streamed Anthropic replies carry this many timestamped events (benchmarks).
    #[arg(long, default_value_t = 0)]
    events: u32,
    /// Microseconds between two benchmark events.
    #[arg(long, default_value_t = 1000)]
    event_interval_us: u64,
    /// Do not record requests (load runs).
    #[arg(long)]
    no_log: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sv-mock-provider: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let mut config = MockConfig::new(args.dir.clone());
    if let Some(text) = args.text {
        config.text = text;
    }
    config.echo = args.echo;
    config.echo_received_key = args.echo_received_key;
    config.hold_ms = args.hold_ms;
    config.tool_command = args.tool_command;
    config.events = args.events;
    config.event_interval_us = args.event_interval_us;
    config.log = !args.no_log;
    let tls = if args.plain {
        None
    } else {
        let ca = TestCa::generate()?;
        std::fs::write(args.dir.join("ca.pem"), &ca.ca_pem)?;
        let alpn: &[&[u8]] = if args.h2 {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        Some(ca.server_config(alpn)?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        let port = listener.local_addr()?.port();
        std::fs::write(args.dir.join("port"), format!("{port}\n"))?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{port}")?;
        out.flush()?;
        drop(out);
        tokio::select! {
            r = serve(listener, tls, config) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
