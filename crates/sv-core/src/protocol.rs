//! The JSON-RPC 2.0 messages between the CLI and the daemon (docs/design.md §7): one
//! JSON object per line, at most [`MAX_FRAME`] bytes, over a Unix socket.
//!
//! Secrets travel only in [`SecretString`] fields. Requests are parsed with
//! their `params` borrowed from the (zeroised) frame buffer and decoded
//! straight into typed parameters, so no untyped copy of a secret is kept.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Largest frame either side accepts from a client, newline included.
pub const MAX_FRAME: usize = 64 * 1024;

/// Method names.
pub mod method {
    pub const STATUS: &str = "status";
    pub const UNLOCK: &str = "unlock";
    pub const LOCK: &str = "lock";
    pub const ADD: &str = "add";
    pub const GET: &str = "get";
    pub const LIST: &str = "list";
    pub const REMOVE: &str = "remove";
    pub const SHUTDOWN: &str = "shutdown";
    /// The audit log ([`crate::ops::LogParams`] → [`crate::ops::LogResult`]).
    pub const LOG: &str = "log";
    /// Re-wrap the vault key under another backend.
    pub const REKEY: &str = "rekey";
    /// Stand-ins for the proxy ([`super::StandInsParams`] →
    /// [`super::StandInsResult`]), scoped as `get` and bound to the caller.
    pub const STAND_INS: &str = "stand_ins";
}

/// Error codes: JSON-RPC's own, then session-vault's (-32000 and below).
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;
    /// The vault is locked (or not created yet): run `session-vault unlock`.
    pub const LOCKED: i64 = -32001;
    /// No session serves this tool in this directory.
    pub const NO_CREDENTIAL: i64 = -32002;
    /// The peer runs as another user.
    pub const FORBIDDEN: i64 = -32003;
    pub const WRONG_PASSPHRASE: i64 = -32004;
    /// The vault or the key material is damaged or does not match.
    pub const VAULT_DAMAGED: i64 = -32005;
    pub const UNKNOWN_TOOL: i64 = -32006;
    pub const STORAGE: i64 = -32007;
    pub const FRAME_TOO_LARGE: i64 = -32008;
    pub const NOT_FOUND: i64 = -32009;
    pub const SHUTTING_DOWN: i64 = -32010;
    /// Refused by a caller rule (docs/design.md §11): the caller is inside
    /// an agent tree, or the kernel could not say who sent the request.
    pub const REFUSED: i64 = -32011;
}

/// A request as a client writes it.
#[derive(Serialize)]
pub struct Request<'a, P: Serialize> {
    pub jsonrpc: &'static str,
    pub id: u64,
    pub method: &'a str,
    pub params: P,
}

impl<'a, P: Serialize> Request<'a, P> {
    pub fn new(id: u64, method: &'a str, params: P) -> Self {
        Request {
            jsonrpc: "2.0",
            id,
            method,
            params,
        }
    }
}

/// A request as the daemon reads it; `params` stays raw until the method
/// is known.
#[derive(Deserialize)]
pub struct IncomingRequest<'a> {
    pub jsonrpc: Option<&'a str>,
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    pub method: String,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A success response.
#[derive(Serialize)]
pub struct ResponseOk<'a, R: Serialize> {
    pub jsonrpc: &'static str,
    pub id: &'a serde_json::Value,
    pub result: R,
}

/// An error response.
#[derive(Serialize)]
pub struct ResponseErr<'a> {
    pub jsonrpc: &'static str,
    pub id: &'a serde_json::Value,
    pub error: RpcError,
}

/// One variable's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VarValue {
    pub name: String,
    pub value: SecretString,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UnlockParams {
    pub passphrase: SecretString,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    pub tool: String,
    /// Canonical project directory; `None` for a global session.
    pub project: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Idle TTL in seconds (0 = none).
    pub ttl: u64,
    /// Hard deadline in seconds from creation.
    #[serde(default)]
    pub max_age: Option<u64>,
    pub values: Vec<VarValue>,
    /// `--confirm` (docs/design.md §11).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    /// `--allow-exe`: absolute paths; the daemon resolves each to the
    /// file's device and inode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_exe: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddResult {
    pub id: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    pub tool: String,
    /// Only used where the kernel cannot tell the peer's directory.
    #[serde(default)]
    pub cwd: Option<String>,
}

/// `stand_ins`: for each tool, a stand-in for the credential `get` would
/// serve the caller here, bound to the calling process (docs/design.md §10).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandInsParams {
    pub tools: Vec<String>,
    /// Only used where the kernel cannot tell the peer's directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Which process the stand-ins are bound to.
    #[serde(default, skip_serializing_if = "Bind::is_caller")]
    pub bind: Bind,
}

/// The process a stand-in lives with (docs/design.md §10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bind {
    /// The process that sent the request (`exec --proxy`, which then
    /// execs the command in place).
    #[default]
    Caller,
    /// The agent that ran the caller as a key helper: the first ancestor
    /// that is neither a shell (`sh`, `bash`, `dash`, `zsh`) nor
    /// session-vault. The same live stand-in is given again to the same
    /// agent for the same tool and session.
    Agent,
}

impl Bind {
    pub fn is_caller(&self) -> bool {
        *self == Bind::Caller
    }
}

/// The variables to set for a command run through the proxy: each tool's
/// key variable(s) holding its stand-in and its base-URL variable pointing
/// at the proxy. No real key is among them.
#[derive(Debug, Serialize, Deserialize)]
pub struct StandInsResult {
    /// The proxy's address, `127.0.0.1:PORT`.
    pub proxy: String,
    /// One per tool, in the order asked.
    pub tools: Vec<StandInGrant>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StandInGrant {
    pub tool: String,
    pub session_id: String,
    pub vars: Vec<VarValue>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GetResult {
    pub session_id: String,
    pub tool: String,
    pub scope: String,
    pub values: Vec<VarValue>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    /// Only what the table shows: the answer's sessions are [`BriefRow`]s.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brief: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub tool: String,
    pub vars: Vec<String>,
    pub fingerprint: String,
    /// `global` or the project directory.
    pub scope: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub last_used: i64,
    pub idle_ttl: u64,
    pub hard_deadline: Option<i64>,
    pub expires_at: Option<i64>,
    /// `add --confirm` (docs/design.md §11).
    #[serde(default)]
    pub confirm: bool,
    /// `add --allow-exe`: the allowed executables' paths as resolved then.
    #[serde(default)]
    pub allow_exe: Vec<String>,
}

/// One session as `list` sends it: a JSON array with [`SessionInfo`]'s
/// fields in its order, less than half the bytes of an object (a list of
/// 100 000 sessions is 11 MB rather than 25). Strings borrow from the
/// response text where they can.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListRow<'a>(
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Vec<Cow<'a, str>>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Option<Cow<'a, str>>,
    pub i64,
    pub i64,
    pub u64,
    pub Option<i64>,
    pub Option<i64>,
    pub bool,
    #[serde(borrow)] pub Vec<Cow<'a, str>>,
);

impl ListRow<'_> {
    pub fn to_info(&self) -> SessionInfo {
        SessionInfo {
            id: self.0.to_string(),
            tool: self.1.to_string(),
            vars: self.2.iter().map(|v| v.to_string()).collect(),
            fingerprint: self.3.to_string(),
            scope: self.4.to_string(),
            label: self.5.as_ref().map(|l| l.to_string()),
            created_at: self.6,
            last_used: self.7,
            idle_ttl: self.8,
            hard_deadline: self.9,
            expires_at: self.10,
            confirm: self.11,
            allow_exe: self.12.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// The `list` answer; `R` is [`ListRow`], or [`BriefRow`] when asked
/// for `brief`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListResult<R> {
    pub now: i64,
    pub sessions: Vec<R>,
}

/// A session as a `brief` list sends it: the table's columns, `[id, tool,
/// fingerprint, scope, expires_at, confirm, allow_exe paths]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BriefRow<'a>(
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    pub Option<i64>,
    pub bool,
    #[serde(borrow)] pub Vec<Cow<'a, str>>,
);

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RemoveResult {
    pub removed: u64,
}

/// Availability of one key backend, as `daemon status --verbose` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackendReport {
    pub name: String,
    pub available: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResult {
    pub version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    pub sessions: u64,
    pub backend: String,
    pub locked: bool,
    /// Unix time the vault was last locked, while it is locked.
    pub locked_since: Option<i64>,
    /// False until the first `unlock` creates the vault key.
    pub initialized: bool,
    pub vault: String,
    pub socket: String,
    #[serde(default)]
    pub backends: Vec<BackendReport>,
    /// Idle seconds after which the vault locks itself (`None` = never).
    #[serde(default)]
    pub lock_after: Option<u64>,
    /// What the daemon observes of its own hardening.
    #[serde(default)]
    pub hygiene: Option<crate::ops::Hygiene>,
    /// Backends that hold a wrapping of this vault's key.
    #[serde(default)]
    pub wrappings: Vec<String>,
    /// Why the backend in use cannot give the key back right now (keyring
    /// locked, gone after start, blob damaged); `None` when all is well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_note: Option<String>,
    /// The credential proxy's address (`127.0.0.1:PORT`), or why it is not
    /// running (docs/design.md §10).
    #[serde(default)]
    pub proxy: Option<ProxyStatus>,
}

/// Where the credential proxy listens, or why it does not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProxyStatus {
    /// `127.0.0.1:PORT` while it listens.
    pub listen: Option<String>,
    /// Why it is not listening (or not on the port recorded for this vault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `rekey`: wrap the vault key under `backend` (a status name or
/// `secret-service`), verify, then drop the other wrappings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RekeyParams {
    pub backend: String,
    /// Only for the passphrase backend.
    #[serde(default)]
    pub passphrase: Option<SecretString>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RekeyResult {
    /// The status name of the backend now in use.
    pub backend: String,
    /// The wrappings that were removed.
    pub removed: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_params_decode_into_secret_types() {
        let line = br#"{"jsonrpc":"2.0","id":3,"method":"unlock","params":{"passphrase":"p\"w"}}"#;
        let req: IncomingRequest<'_> = serde_json::from_slice(line).unwrap();
        assert_eq!(req.method, "unlock");
        let p: UnlockParams = serde_json::from_str(req.params.unwrap().get()).unwrap();
        assert_eq!(p.passphrase.expose(), "p\"w");
        assert_eq!(format!("{p:?}"), "UnlockParams { passphrase: [REDACTED] }");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<GetParams>(r#"{"tool":"x","bogus":1}"#).is_err());
    }
}
