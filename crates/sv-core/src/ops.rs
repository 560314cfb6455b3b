//! Operations: the audit log's records and queries, the daemon's own
//! settings in `config.toml` (`lock_after`, `[audit]`), the process hygiene
//! the daemon reports, and the small time formats the CLI prints.
//!
//! An audit record says who asked for which tool's credential and what the
//! daemon did about it. It never holds a secret: there is no field a secret
//! could go in.
//!
//! ```
//! use sv_core::ops::{parse_since, DaemonConfig};
//! assert_eq!(parse_since("90m"), Ok(5400));
//! let c = DaemonConfig::from_toml("lock_after = 600\n[audit]\nmax_rows = 500\n").unwrap();
//! assert_eq!(c.lock_after, Some(600));
//! assert_eq!(c.audit.max_rows, 500);
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the daemon did with a request for a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The credential was handed out.
    Served,
    /// No session's scope covers the caller's directory.
    RefusedScope,
    /// The session that would have served has passed its idle or hard expiry.
    RefusedExpired,
    /// The vault is locked.
    RefusedLocked,
    /// The caller runs as another user.
    RefusedUid,
    /// The caller's working directory could not be read from the kernel.
    RefusedNoCwd,
    /// The tool is not known.
    RefusedUnknownTool,
    /// A stored record failed its integrity check, or storage failed.
    Failed,
    /// A stand-in was issued for the credential (`exec --proxy`); the
    /// caller got no key.
    StandIn,
    /// The proxy forwarded a request with the real key on it (whatever
    /// status the upstream answered).
    Proxied,
    /// The proxy refused a request: no live stand-in of the tool, or the
    /// vault locked.
    RefusedStandIn,
    /// The caller is inside an agent tree (docs/design.md §11), where this
    /// request is not allowed.
    RefusedAgentTree,
    /// The kernel could not say which process sent the request (no
    /// credentials, a sender already gone, or bytes from two senders in
    /// one frame): refused rather than served to the connection's opener.
    RefusedUnknownCaller,
    /// The session's `--allow-exe` rule (docs/design.md §11): neither the
    /// caller's executable nor an ancestor's is one of the allowed files.
    RefusedAllowExe,
    /// The session's `--confirm` rule: the user said no, the askpass
    /// program was missing or failed, or it did not answer in time.
    RefusedConfirm,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 15] = [
        AuditOutcome::Served,
        AuditOutcome::RefusedScope,
        AuditOutcome::RefusedExpired,
        AuditOutcome::RefusedLocked,
        AuditOutcome::RefusedUid,
        AuditOutcome::RefusedNoCwd,
        AuditOutcome::RefusedUnknownTool,
        AuditOutcome::Failed,
        AuditOutcome::StandIn,
        AuditOutcome::Proxied,
        AuditOutcome::RefusedStandIn,
        AuditOutcome::RefusedAgentTree,
        AuditOutcome::RefusedUnknownCaller,
        AuditOutcome::RefusedAllowExe,
        AuditOutcome::RefusedConfirm,
    ];

    /// The name stored in the database and printed by `log`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Served => "served",
            AuditOutcome::RefusedScope => "refused_scope",
            AuditOutcome::RefusedExpired => "refused_expired",
            AuditOutcome::RefusedLocked => "refused_locked",
            AuditOutcome::RefusedUid => "refused_uid",
            AuditOutcome::RefusedNoCwd => "refused_no_cwd",
            AuditOutcome::RefusedUnknownTool => "refused_unknown_tool",
            AuditOutcome::Failed => "failed",
            AuditOutcome::StandIn => "stand_in",
            AuditOutcome::Proxied => "proxied",
            AuditOutcome::RefusedStandIn => "refused_stand_in",
            AuditOutcome::RefusedAgentTree => "refused_agent_tree",
            AuditOutcome::RefusedUnknownCaller => "refused_unknown_caller",
            AuditOutcome::RefusedAllowExe => "refused_allow_exe",
            AuditOutcome::RefusedConfirm => "refused_confirm",
        }
    }

    pub fn parse(s: &str) -> Option<AuditOutcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Refusals and failures: everything but `served`, `stand_in` and
    /// `proxied`.
    pub fn is_denied(self) -> bool {
        !matches!(
            self,
            AuditOutcome::Served | AuditOutcome::StandIn | AuditOutcome::Proxied
        )
    }
}

/// What the audit log keeps of a request through the proxy
/// (docs/design.md §10): never a key, a stand-in or a query value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxiedRequest {
    pub method: String,
    /// The upstream's host, when a stand-in was accepted.
    pub host: Option<String>,
    /// The upstream path; query parameter names kept, values dropped.
    pub path: String,
    /// The status the client got (0: it left before the answer).
    pub status: u16,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration_ms: u64,
}

/// One audit record (docs/design.md §7): what the daemon writes, the vault
/// stores and, with its row id, `log` returns. It has no field a secret
/// could go in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix time.
    pub time: i64,
    /// `None` when the request was refused before its tool was read.
    pub tool: Option<String>,
    pub session_id: Option<String>,
    pub outcome: AuditOutcome,
    pub pid: Option<i32>,
    pub exe: Option<String>,
    pub cwd: Option<String>,
    /// For a request through the proxy: what was asked and answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ProxiedRequest>,
    /// The caller rule that refused it, or that a yes was given for
    /// (docs/design.md §11): `allow-exe /usr/bin/node`, `confirm: no`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl AuditRecord {
    /// A serve must not be answered unless this record is committed ("no
    /// audit record, no credential"); a refusal is answered either way.
    pub fn required(&self) -> bool {
        self.outcome == AuditOutcome::Served
    }
}

/// One stored audit record as the `log` method returns it: its row id,
/// then the record's fields at the same level of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// Parameters of the `log` method.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    #[serde(default)]
    pub tool: Option<String>,
    /// Only records at or after this Unix time.
    #[serde(default)]
    pub since: Option<i64>,
    /// Only refusals and failures.
    #[serde(default)]
    pub denied: bool,
    /// At most this many (the most recent), oldest first.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogResult {
    pub entries: Vec<AuditEntry>,
}

/// The process hygiene the daemon observes in itself (docs/design.md §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hygiene {
    /// `prctl(PR_GET_DUMPABLE)`; `None` where the platform has no such flag.
    pub dumpable: Option<bool>,
    /// The soft RLIMIT_CORE in bytes (`None` = unlimited).
    pub core_limit: Option<u64>,
    /// Kilobytes of memory locked (VmLck), where the platform tells.
    pub locked_kb: Option<u64>,
    /// Whether the kernel refuses writable-and-executable memory
    /// (`PR_GET_MDWE`, what systemd's MemoryDenyWriteExecute= sets).
    #[serde(default)]
    pub deny_write_execute: Option<bool>,
}

/// The `[audit]` table of `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRetention {
    /// Records older than this many days are deleted.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: u32,
    /// At most this many records are kept (the newest).
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
}

fn default_max_age_days() -> u32 {
    90
}

fn default_max_rows() -> u32 {
    100_000
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention {
            max_age_days: default_max_age_days(),
            max_rows: default_max_rows(),
        }
    }
}

impl AuditRetention {
    pub fn max_age_secs(&self) -> i64 {
        i64::from(self.max_age_days) * 86_400
    }
}

/// The daemon's settings in `config.toml` (the `[tools]` tables are
/// [`crate::ToolTable`]'s).
///
/// ```toml
/// lock_after = 900        # lock after 15 idle minutes (passphrase backend)
/// confirm_timeout = 45    # seconds an `add --confirm` question waits
/// [audit]
/// max_age_days = 90
/// max_rows = 100000
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Idle seconds after which the vault locks itself; `None` = never.
    pub lock_after: Option<u64>,
    pub audit: AuditRetention,
    /// `proxy_listen = "127.0.0.1:PORT"`: where the credential proxy
    /// listens instead of the port recorded for the vault. Loopback only.
    pub proxy_listen: Option<std::net::SocketAddr>,
    /// `confirm_timeout = SECS`: how long a `--confirm` question waits
    /// for the askpass program's answer before it counts as a no.
    pub confirm_timeout: u64,
}

/// How long a `--confirm` question waits by default (seconds): less than
/// the CLI waits for any answer (60 s), so a late yes still reaches it.
pub const DEFAULT_CONFIRM_TIMEOUT: u64 = 45;

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            lock_after: None,
            audit: AuditRetention::default(),
            proxy_listen: None,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    lock_after: Option<u64>,
    #[serde(default)]
    proxy_listen: Option<String>,
    #[serde(default)]
    confirm_timeout: Option<u64>,
    #[serde(default)]
    audit: Option<AuditRetention>,
    /// `[tools]` and anything else: not ours.
    #[serde(flatten)]
    _rest: BTreeMap<String, toml::Value>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("config.toml: {0}")]
    Invalid(String),
}

impl DaemonConfig {
    /// Parses the daemon's keys of a `config.toml` text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError::Invalid(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        let audit = raw.audit.unwrap_or_default();
        if audit.max_age_days == 0 || audit.max_age_days > 36_500 {
            return Err(ConfigError::Invalid(
                "[audit] max_age_days must be between 1 and 36500".into(),
            ));
        }
        if audit.max_rows == 0 {
            return Err(ConfigError::Invalid(
                "[audit] max_rows must be at least 1".into(),
            ));
        }
        let proxy_listen = match raw.proxy_listen.as_deref() {
            None => None,
            Some(text) => Some(parse_proxy_listen(text)?),
        };
        Ok(DaemonConfig {
            // 0 means off, as for `--ttl 0`.
            lock_after: raw.lock_after.filter(|&s| s > 0),
            audit,
            proxy_listen,
            confirm_timeout: match raw.confirm_timeout {
                None => DEFAULT_CONFIRM_TIMEOUT,
                Some(s) if (1..=3600).contains(&s) => s,
                Some(_) => {
                    return Err(ConfigError::Invalid(
                        "confirm_timeout must be between 1 and 3600 seconds".into(),
                    ))
                }
            },
        })
    }
}

/// `proxy_listen`: a loopback address with a port (`127.0.0.1:8787`,
/// `[::1]:8787`); anything reachable from another machine is refused.
fn parse_proxy_listen(text: &str) -> Result<std::net::SocketAddr, ConfigError> {
    let addr: std::net::SocketAddr = text.parse().map_err(|_| {
        ConfigError::Invalid(format!(
            "proxy_listen = \"{}\" is not an address; use \"127.0.0.1:PORT\"",
            text.escape_debug()
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(ConfigError::Invalid(format!(
            "proxy_listen = \"{addr}\" is not a loopback address; the proxy listens on 127.0.0.1 (or ::1) only"
        )));
    }
    Ok(addr)
}

/// Parses a `--since` age: a number followed by `s`, `m`, `h`, `d` or `w`
/// (`30m`, `1h`, `2d`); a bare number is seconds. Returns seconds.
pub fn parse_since(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || format!("`{s}` is not an age; use e.g. 30m, 1h, 2d or 90s");
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = sv_fs::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); see `sv_fs::time`.
pub use sv_fs::time::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        for o in AuditOutcome::ALL {
            assert_eq!(AuditOutcome::parse(o.as_str()), Some(o));
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
        assert!(!AuditOutcome::Served.is_denied());
        assert!(AuditOutcome::RefusedUid.is_denied());
        assert_eq!(AuditOutcome::parse("nope"), None);
    }

    #[test]
    fn an_entry_is_its_id_then_the_records_fields_flat() {
        let mut record = AuditRecord {
            time: 7,
            tool: Some("claude".into()),
            session_id: None,
            outcome: AuditOutcome::Served,
            pid: Some(42),
            exe: None,
            cwd: Some("/w".into()),
            request: None,
            rule: None,
        };
        let entry = AuditEntry {
            id: 3,
            record: record.clone(),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"id":3,"time":7,"tool":"claude","session_id":null,"outcome":"served","pid":42,"exe":null,"cwd":"/w"}"#
        );
        assert_eq!(serde_json::from_str::<AuditEntry>(&json).unwrap(), entry);
        record.rule = Some("confirm: no".into());
        record.request = Some(ProxiedRequest::default());
        let entry = AuditEntry { id: 4, record };
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.ends_with(r#""rule":"confirm: no"}"#), "{json}");
        assert_eq!(serde_json::from_str::<AuditEntry>(&json).unwrap(), entry);
    }

    #[test]
    fn since() {
        assert_eq!(parse_since("1h"), Ok(3600));
        assert_eq!(parse_since("30m"), Ok(1800));
        assert_eq!(parse_since("2d"), Ok(172_800));
        assert_eq!(parse_since("45"), Ok(45));
        assert_eq!(parse_since("1w"), Ok(604_800));
        for bad in ["", "h", "1y", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn config() {
        assert_eq!(
            DaemonConfig::from_toml("").unwrap(),
            DaemonConfig::default()
        );
        let c = DaemonConfig::from_toml(
            "lock_after = 2\n[tools.x]\nvars=[\"X\"]\n[audit]\nmax_age_days = 7\n",
        )
        .unwrap();
        assert_eq!(c.lock_after, Some(2));
        assert_eq!(c.audit.max_age_days, 7);
        assert_eq!(c.audit.max_rows, 100_000);
        assert_eq!(
            DaemonConfig::from_toml("lock_after = 0")
                .unwrap()
                .lock_after,
            None
        );
        assert!(DaemonConfig::from_toml("lock_after = -5").is_err());
        assert!(DaemonConfig::from_toml("lock_after = \"10m\"").is_err());
        assert!(DaemonConfig::from_toml("[audit]\nmax_rows = 0").is_err());
        assert!(DaemonConfig::from_toml("[audit]\nmax_age_days = 0").is_err());
        assert!(DaemonConfig::from_toml("[audit]\nmax_days = 3").is_err());
        assert_eq!(
            DaemonConfig::from_toml("confirm_timeout = 2")
                .unwrap()
                .confirm_timeout,
            2
        );
        assert!(DaemonConfig::from_toml("confirm_timeout = 0").is_err());
        assert_eq!(
            DaemonConfig::from_toml("proxy_listen = \"127.0.0.1:8787\"")
                .unwrap()
                .proxy_listen,
            Some("127.0.0.1:8787".parse().unwrap())
        );
        for bad in [
            "0.0.0.0:8787",
            "192.168.1.2:80",
            "localhost:80",
            "127.0.0.1",
        ] {
            let text = format!("proxy_listen = \"{bad}\"");
            assert!(DaemonConfig::from_toml(&text).is_err(), "{bad}");
        }
    }
}
