//! [`ApiError`]: a failed request, answered with a `v1` Status object like the real server's.

use serde_json::{Value, json};

/// A request the server refuses: HTTP code, Status `reason` and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The HTTP status code (also the Status `code`).
    pub code: u16,
    /// The Status `reason` (`NotFound`, `Expired`, ...).
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
}

impl ApiError {
    /// 400: a malformed request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 404: no such object or path.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "NotFound", message)
    }

    /// 405: the fake serves reads only.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the fake API server serves GET only, not {method}"),
        )
    }

    /// 410: a resourceVersion or continue token older than the log reaches.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 422: a well-formed request the server does not accept.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    /// 503: the server is paused in [`super::Pause::Unavailable`] mode.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "the fake API server is paused (unavailable)",
        )
    }

    /// 504: a resourceVersion newer than the server's.
    pub fn too_large_rv(asked: u64, current: u64) -> ApiError {
        ApiError::new(
            504,
            "Timeout",
            format!("Too large resource version: {asked}, current: {current}"),
        )
    }

    /// The `v1` Status object.
    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }

    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }
}
