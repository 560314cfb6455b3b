//! The proxy's own answers: a status and a JSON body that says what to do.
//!
//! The body is shaped so that each provider's SDK shows the message: it has
//! Anthropic's `type` and `error.type`/`error.message`, OpenAI's
//! `error.message`/`error.type`, and Google's `error.code`/`error.status`.
//! `error.type` is always `session_vault`, so a tool (or a person) can tell
//! the proxy's answer from the provider's; `error.reason` says which one.

use crate::body::ProxyBody;
use crate::port::Refusal;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// A refusal or failure the proxy answers itself.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Reply {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Reply {
            status,
            message: message.into(),
        }
    }

    /// The answer to a refused stand-in. `tool` is a valid tool name.
    pub(crate) fn refused(refusal: &Refusal, tool: &str) -> Self {
        let run = format!("run the agent with `session-vault exec --proxy --tool {tool} -- CMD`");
        match refusal {
            Refusal::Unknown => Reply::new(
                StatusCode::UNAUTHORIZED,
                format!("session-vault: this key is not a live stand-in for tool `{tool}`; {run}"),
            ),
            Refusal::Dead => Reply::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "session-vault: this stand-in has expired (the process it was issued to has \
                     exited, or its session expired or was removed); {run}"
                ),
            ),
            Refusal::OtherTool(other) => Reply::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "session-vault: this stand-in was issued for tool `{}`, not `{tool}`; {run}",
                    other.escape_debug()
                ),
            ),
            Refusal::Locked => Reply::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session-vault: the vault is locked; run `session-vault unlock`, then retry",
            ),
        }
    }

    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let (kind, google_status) = match self.status {
            StatusCode::UNAUTHORIZED => ("authentication_error", "UNAUTHENTICATED"),
            StatusCode::SERVICE_UNAVAILABLE => ("session_vault_locked", "UNAVAILABLE"),
            StatusCode::BAD_GATEWAY => ("upstream_unreachable", "UNAVAILABLE"),
            StatusCode::GATEWAY_TIMEOUT => ("upstream_timeout", "DEADLINE_EXCEEDED"),
            StatusCode::NOT_FOUND => ("not_found_error", "NOT_FOUND"),
            StatusCode::UPGRADE_REQUIRED => ("upgrade_required", "FAILED_PRECONDITION"),
            _ => ("invalid_request_error", "INVALID_ARGUMENT"),
        };
        let body = serde_json::json!({
            "type": "error",
            "error": {
                "type": "session_vault",
                "reason": kind,
                "code": self.status.as_u16(),
                "status": google_status,
                "message": self.message,
            }
        });
        let mut response = Response::new(ProxyBody::message(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // The vault stays locked until a person unlocks it: a client
            // that honours Retry-After should not hammer the proxy.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        response
    }
}
