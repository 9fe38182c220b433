//! Secrets read at cold start from SSM Parameter Store.
//!
//! A secret variable `X` (a carrier key, a robot webhook or signing secret) can be
//! given two ways:
//!
//! - `X_PARAMETER`: the *name* of an SSM parameter (a SecureString, e.g.
//!   `/parcel-sentinel/kdniao-api-key`) that holds the value. The template passes
//!   these; the value then never appears in the function's configuration, where
//!   anyone allowed `lambda:GetFunctionConfiguration` could read it.
//! - `X` itself, the plain value: the CLI, tests and stacks deployed before the
//!   parameters existed.
//!
//! When both are set, **the parameter wins** (the plain value is ignored, and a
//! line says so, naming the variable, never the value).
//!
//! [`Secrets::resolve`] reads every named parameter in one `GetParameters` call
//! (with decryption; ten names a call, SSM's limit) and [`Secrets::lookup`] feeds
//! them into the configuration loaders that already take a lookup
//! (`ProviderSettings::from_lookup`, `channels_from_lookup`) — the process
//! environment is never modified. A parameter that does not exist, or that the
//! function may not read, stops the function at cold start with an error naming
//! the variable and the parameter. Values are kept as [`Secret`]s: they appear in
//! no `Debug` output, log or error.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use shared::secret::Secret;

/// The suffix of the variable that names a secret's SSM parameter.
pub const PARAMETER_SUFFIX: &str = "_PARAMETER";

/// `GetParameters` takes at most this many names per call.
const MAX_NAMES_PER_CALL: usize = 10;

/// Why the secrets could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The parameter does not exist (SSM lists it as invalid) or was not returned.
    #[error("{var}{PARAMETER_SUFFIX}: SSM parameter {name:?} not found (create it as a SecureString, or correct the name)")]
    NotFound { var: String, name: String },
    /// The call failed: access denied, throttled, network.
    #[error("{vars}: cannot read SSM parameters {names}: {reason}")]
    Backend {
        vars: String,
        names: String,
        reason: String,
    },
}

/// The secrets that came from SSM, by variable.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    values: HashMap<String, Secret>,
}

impl Secrets {
    /// Nothing from SSM: every lookup falls through to the environment.
    pub fn none() -> Self {
        Self::default()
    }

    /// For each of `vars` whose `{var}_PARAMETER` is set (read through `env`),
    /// reads that SSM parameter, decrypted. No variable named: no call at all.
    pub async fn resolve(
        client: &Client,
        vars: &[&str],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretError> {
        // parameter name -> the variables it provides (one parameter may serve two)
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for var in vars {
            let Some(name) = env(&format!("{var}{PARAMETER_SUFFIX}")) else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            if env(var).is_some_and(|v| !v.trim().is_empty()) {
                tracing::info!(
                    variable = var,
                    parameter = name,
                    "both a plain value and an SSM parameter are set: the parameter wins"
                );
            }
            wanted
                .entry(name.to_string())
                .or_default()
                .push(var.to_string());
        }
        let mut values = HashMap::new();
        let names: Vec<String> = wanted.keys().cloned().collect();
        for chunk in names.chunks(MAX_NAMES_PER_CALL) {
            let out = client
                .get_parameters()
                .set_names(Some(chunk.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    let vars: Vec<String> = chunk
                        .iter()
                        .flat_map(|n| wanted.get(n).into_iter().flatten())
                        .map(|v| format!("{v}{PARAMETER_SUFFIX}"))
                        .collect();
                    SecretError::Backend {
                        vars: vars.join(", "),
                        names: chunk.join(", "),
                        reason: DisplayErrorContext(e).to_string(),
                    }
                })?;
            let mut found: HashMap<&str, &str> = HashMap::new();
            for p in out.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    if p.r#type() != Some(&ParameterType::SecureString) {
                        tracing::warn!(
                            parameter = name,
                            "secret parameter is not a SecureString: it is stored unencrypted"
                        );
                    }
                    found.insert(name, value);
                }
            }
            for name in chunk {
                let vars = wanted.get(name).map(Vec::as_slice).unwrap_or_default();
                let Some(value) = found.get(name.as_str()) else {
                    return Err(SecretError::NotFound {
                        var: vars.first().cloned().unwrap_or_default(),
                        name: name.clone(),
                    });
                };
                for var in vars {
                    values.insert(var.clone(), Secret::new(value.trim()));
                }
            }
        }
        Ok(Self { values })
    }

    /// [`resolve`](Self::resolve) with the process environment and the SDK
    /// configuration from it ([`crate::sdk_config`]), loaded only when some
    /// parameter is named: without one, no client and no call.
    pub async fn from_env(vars: &[&str]) -> Result<Self, SecretError> {
        let env = |k: &str| std::env::var(k).ok();
        if !vars
            .iter()
            .any(|v| env(&format!("{v}{PARAMETER_SUFFIX}")).is_some_and(|n| !n.trim().is_empty()))
        {
            return Ok(Self::none());
        }
        let sdk = crate::sdk_config().await;
        Self::resolve(&Client::new(&sdk), vars, env).await
    }

    /// The value read for `var`, if it came from SSM.
    pub fn get(&self, var: &str) -> Option<&Secret> {
        self.values.get(var)
    }

    /// How many variables came from SSM.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A lookup for the configuration loaders: a variable read from SSM, else
    /// `fallback` (the environment, or a test's map).
    pub fn lookup_with<'a, F>(&'a self, fallback: F) -> impl Fn(&str) -> Option<String> + 'a
    where
        F: Fn(&str) -> Option<String> + 'a,
    {
        move |k: &str| match self.values.get(k) {
            Some(s) => Some(s.expose().to_string()),
            None => fallback(k),
        }
    }

    /// [`lookup_with`](Self::lookup_with) the process environment.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        self.lookup_with(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssm_value_wins_and_the_rest_falls_through() {
        let mut s = Secrets::none();
        s.values
            .insert("KDNIAO_API_KEY".into(), Secret::new("from-ssm"));
        let env = |k: &str| match k {
            "KDNIAO_API_KEY" => Some("plain".to_string()),
            "KDNIAO_EBUSINESS_ID" => Some("1000".to_string()),
            _ => None,
        };
        let get = s.lookup_with(env);
        assert_eq!(get("KDNIAO_API_KEY").as_deref(), Some("from-ssm"));
        assert_eq!(get("KDNIAO_EBUSINESS_ID").as_deref(), Some("1000"));
        assert_eq!(get("KUAIDI100_KEY"), None);
        assert!(!format!("{s:?}").contains("from-ssm"));
    }

    #[test]
    fn errors_name_the_variable_and_the_parameter() {
        let e = SecretError::NotFound {
            var: "KDNIAO_API_KEY".into(),
            name: "/ps/kdniao".into(),
        };
        let text = e.to_string();
        assert!(text.starts_with("KDNIAO_API_KEY_PARAMETER: "), "{text}");
        assert!(text.contains("\"/ps/kdniao\""), "{text}");
    }
}
