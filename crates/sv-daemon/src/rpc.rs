//! Requests as the vault handles them: a handler's answer ([`Outcome`]),
//! the answer with the audit record it waits for ([`Dispatched`]), and the
//! mapping of the store's and the key backends' errors to JSON-RPC errors
//! (docs/design.md §7).

use crate::audit::AuditRecord;
use serde::Serialize;
use serde_json::value::RawValue;
use sv_core::protocol::{self as p, code, RpcError};
use sv_keyring::KeyringError;
use sv_store::StoreError;
use tracing::{debug, warn};
use zeroize::Zeroizing;

/// A handler's answer: the JSON text of its result (in zeroising memory, as
/// results can hold keys), or an error.
pub type Outcome = Result<Zeroizing<Vec<u8>>, RpcError>;

/// A handled request: its answer, and the audit record that must be
/// committed before the answer goes out (see [`Dispatched::settle`]).
pub struct Dispatched {
    pub out: Outcome,
    pub audit: Option<AuditRecord>,
    /// A question for the user that decides the request (`--confirm`,
    /// docs/design.md §11): the server asks it without blocking, then
    /// decides the request again on a yes; `out` and `audit` are the
    /// refusal that stands on anything else.
    pub confirm: Option<Box<Ask>>,
}

/// A `--confirm` question (Linux; elsewhere caller rules are refused
/// outright and no question is ever asked).
#[cfg(target_os = "linux")]
pub type Ask = crate::rules::Ask;
#[cfg(not(target_os = "linux"))]
pub enum Ask {}

impl Dispatched {
    /// An answer with no audit record to wait for.
    pub fn plain(out: Outcome) -> Self {
        Dispatched {
            out,
            audit: None,
            confirm: None,
        }
    }

    /// A lookup's answer, serialised, with its record.
    pub fn served(r: Result<p::GetResult, RpcError>, record: AuditRecord) -> Self {
        let out = r.and_then(|r| {
            // JSON escaping at most sextuples a byte (\u00XX).
            let size: usize = r
                .values
                .iter()
                .map(|v| 6 * v.value.len() + v.name.len() + 32)
                .sum();
            to_json(&r, size + 256)
        });
        Dispatched {
            out,
            audit: Some(record),
            confirm: None,
        }
    }

    pub fn error(e: RpcError) -> Self {
        Dispatched::plain(Err(e))
    }

    /// The answer once the record's commit is known: a serve whose record
    /// could not be written is refused (no record, no credential); a
    /// refusal stays a refusal.
    pub fn settle(self, committed: Result<(), String>) -> Outcome {
        match (committed, &self.audit) {
            (Err(e), Some(rec)) if rec.required() => {
                warn!(session = ?rec.session_id, tool = ?rec.tool, pid = ?rec.pid, "refused: the audit record could not be written");
                Err(RpcError::new(
                    code::STORAGE,
                    format!("cannot write the audit record ({e}); nothing was served"),
                ))
            }
            (Ok(()), Some(rec)) if rec.required() => {
                // The audit log is the record of every serve; the daemon's
                // log repeats it only at debug level (at info it was a line
                // per lookup, and a tenth of a lookup's cost).
                debug!(session = ?rec.session_id, tool = ?rec.tool, pid = ?rec.pid, exe = ?rec.exe, cwd = ?rec.cwd, "served credential");
                self.out
            }
            _ => self.out,
        }
    }
}

/// Serialises a handler's result.
pub fn to_raw<T: Serialize>(v: &T) -> Outcome {
    to_json(v, 512)
}

/// Serialises into one buffer of `capacity` bytes, so that a result that
/// fits never leaves a reallocated copy behind.
fn to_json<T: Serialize>(v: &T, capacity: usize) -> Outcome {
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buf, v)
        .map_err(|e| RpcError::new(code::INTERNAL, e.to_string()))?;
    Ok(buf)
}

/// A request's params as `T` (no params: `{}`).
pub fn params<'a, T: serde::Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<T, RpcError> {
    let text = raw.map(|r| r.get()).unwrap_or("{}");
    // serde's message can quote input; it goes back only to the same peer.
    serde_json::from_str(text)
        .map_err(|e| RpcError::new(code::INVALID_PARAMS, format!("invalid params: {e}")))
}

/// A store error as the client sees it.
pub fn store_err(e: StoreError) -> RpcError {
    let c = match e {
        StoreError::Damaged { .. } | StoreError::NewerSchema { .. } => code::VAULT_DAMAGED,
        StoreError::AmbiguousId(_) => code::INVALID_PARAMS,
        _ => code::STORAGE,
    };
    RpcError::new(c, e.to_string())
}

/// A key backend's error as the client sees it.
pub fn keyring_err(e: KeyringError) -> RpcError {
    let c = match e {
        KeyringError::WrongPassphrase => code::WRONG_PASSPHRASE,
        KeyringError::EmptyPassphrase | KeyringError::PassphraseRequired => code::INVALID_PARAMS,
        KeyringError::Damaged { .. } | KeyringError::KeyMissing { .. } => code::VAULT_DAMAGED,
        KeyringError::Locked { .. } => code::LOCKED,
        _ => code::INTERNAL,
    };
    RpcError::new(c, e.to_string())
}

/// The answer to a request that needs the key while the vault is locked.
pub fn locked_error() -> RpcError {
    RpcError::new(
        code::LOCKED,
        "the vault is locked; run `session-vault unlock`",
    )
}
