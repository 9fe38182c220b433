//! Chat channels alerts are delivered to (channels.md). DingTalk's custom robot is
//! the first; each client checks the service's reply body, since these services
//! answer HTTP 200 with an error code inside.

pub mod dingtalk;

/// Why a chat message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Signature, keyword or IP check failed, or a bad token: needs a human.
    #[error("rejected by the robot's security settings: {0}")]
    Rejected(String),
    /// Sent too fast: retry later.
    #[error("rate limited: {0}")]
    RateLimited(String),
    #[error("message too large: {0}")]
    TooLarge(String),
    /// Network or 5xx: retry.
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("channel error: {0}")]
    Other(String),
}
