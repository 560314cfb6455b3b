//! The pure rules of session-vault: which tools exist and which variables they
//! set, which stored session serves a working directory, when a session
//! expires, how a secret is sealed to its record, how values are quoted for a
//! shell, and the JSON-RPC messages the CLI and the daemon exchange.
//!
//! Nothing here touches the file system, the network or the clock: callers
//! pass canonical paths, the current time and fresh nonces in. That keeps every
//! rule testable as a pure function (see the unit and property tests).

pub mod ops;
pub mod paths;
pub mod protocol;
pub mod quote;
pub mod rules;
pub mod scope;
pub mod seal;
pub mod secret;
pub mod text;
pub mod tools;
pub mod ttl;

pub use scope::Scope;
pub use seal::{SealError, SealedSecret, VaultKey};
pub use secret::SecretString;
pub use tools::{ToolTable, ToolTableError};
pub use ttl::Expiry;
