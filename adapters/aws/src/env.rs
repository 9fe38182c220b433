//! Reading a function's own variables at cold start.

use shared::config::ConfigError;

/// A required variable; a missing or empty one is an error naming it.
pub fn required(var: &'static str) -> Result<String, ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(ConfigError {
            var,
            token: String::new(),
            reason: "not set; required".into(),
        }),
    }
}

/// An optional variable: its trimmed value, or `None` when missing or empty.
pub fn optional(var: &'static str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => None,
    }
}

/// An optional number with a default, checked against a range.
pub fn number(var: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError {
                var,
                token: v,
                reason: format!("expected a whole number from {min} to {max}"),
            }),
        },
        _ => Ok(default),
    }
}

/// Stops a function at cold start, before it takes any event: one line on stderr
/// naming what is wrong (the variable and its bad value), then a non-zero exit,
/// which Lambda reports as an init error.
pub fn fail_init(what: impl std::fmt::Display) -> ! {
    eprintln!("configuration error: {what}");
    std::process::exit(2)
}

/// `Ok` value, or [`fail_init`].
pub fn or_fail<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| fail_init(e))
}
