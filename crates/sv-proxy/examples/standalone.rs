//! The proxy on its own, for trying agents and load tools against it
//! before (or without) the daemon: every stand-in it issues lives until
//! this process exits.
//!
//! ```sh
//! # one key per --tool, one per line on stdin (never on the command line)
//! printf '%s\n' "$ANTHROPIC_KEY" | cargo run -p sv-proxy --example standalone -- \
//!     --tool claude --upstream https://localhost:8443 --ca-file ca.pem
//! ```
//!
//! Prints `TOOL BASE_URL_VAR=BASE_URL STAND_IN` per tool, then serves until
//! killed; each request's audit record goes to stderr.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use sv_core::SecretString;
use sv_proxy::{
    builtin_route, stand_in_like, tool_base_url, AuditRecord, AuthPlace, Grant, ProxyConfig,
    ProxyServer, Refusal, StandIns, Upstream,
};

struct Issued {
    tool: String,
    key: SecretString,
    upstream: Arc<Upstream>,
    auth: AuthPlace,
}

struct Table(HashMap<String, Issued>);

impl StandIns for Table {
    fn resolve(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal> {
        let issued = self.0.get(stand_in).ok_or(Refusal::Unknown)?;
        if issued.tool != tool {
            return Err(Refusal::OtherTool(issued.tool.clone()));
        }
        Ok(Grant {
            key: issued.key.clone(),
            upstream: issued.upstream.clone(),
            auth: issued.auth,
            session: "standalone".to_owned(),
        })
    }

    fn audit(&self, record: AuditRecord) {
        eprintln!("{record:?}");
    }
}

struct ToolArg {
    name: String,
    upstream: Option<String>,
    auth: Option<AuthPlace>,
}

fn usage() -> ! {
    eprintln!(
        "usage: standalone [--listen 127.0.0.1:PORT] [--ca-file PEM] \
         (--tool NAME [--upstream https://…] [--auth x-api-key|bearer|x-goog-api-key|query-key])…\n\
         keys: one line per --tool on stdin"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut ca_file: Option<PathBuf> = None;
    let mut tools: Vec<ToolArg> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--listen" => listen = value(),
            "--ca-file" => ca_file = Some(PathBuf::from(value())),
            "--tool" => tools.push(ToolArg {
                name: value(),
                upstream: None,
                auth: None,
            }),
            "--upstream" => match tools.last_mut() {
                Some(t) => t.upstream = Some(value()),
                None => usage(),
            },
            "--auth" => match (tools.last_mut(), value().parse()) {
                (Some(t), Ok(place)) => t.auth = Some(place),
                _ => usage(),
            },
            _ => usage(),
        }
    }
    if tools.is_empty() {
        usage();
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut table = HashMap::new();
    let mut issued = Vec::new();
    for tool in tools {
        let route = builtin_route(&tool.name);
        let (Some(url), Some(auth)) = (
            tool.upstream.as_deref().or(route.map(|r| r.upstream)),
            tool.auth.or(route.map(|r| r.auth)),
        ) else {
            eprintln!(
                "tool `{}` is not built in: give --upstream and --auth",
                tool.name
            );
            std::process::exit(2);
        };
        let upstream = match Upstream::new(url, ca_file.as_deref()) {
            Ok(u) => Arc::new(u),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let Some(Ok(line)) = lines.next() else {
            eprintln!("no key for `{}` on stdin", tool.name);
            std::process::exit(2);
        };
        let key = SecretString::new(line.trim().to_owned());
        let stand_in = stand_in_like(key.expose().as_bytes());
        issued.push((tool.name.clone(), route, stand_in.clone()));
        table.insert(
            stand_in.to_string(),
            Issued {
                tool: tool.name,
                key,
                upstream,
                auth,
            },
        );
    }
    let addr = match listen.parse() {
        Ok(a) => a,
        Err(_) => usage(),
    };
    let proxy = match ProxyServer::start(addr, Arc::new(Table(table)), ProxyConfig::default()).await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for (tool, route, stand_in) in issued {
        let (var, suffix) = route.map_or(("BASE_URL", ""), |r| (r.base_url_var, r.base_url_suffix));
        println!(
            "{tool} {var}={} {}",
            tool_base_url(proxy.local_addr(), &tool, suffix),
            stand_in.as_str()
        );
    }
    let _ = tokio::signal::ctrl_c().await;
    proxy.shutdown().await;
}
