//! Real tracking providers: the Kdniao (快递鸟) and Kuaidi100 (快递100) clients
//! behind the [`CarrierQuery`] port, carrier detection from the tracking number, push
//! callback verification, and the resilience that keeps a provider's trouble
//! contained.
//!
//! Configuration is a public contract (environment variables, SAM parameters):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `CARRIER_PROVIDER` | `kdniao`, `kuaidi100` or `sim` | `kdniao` |
//! | `TRACKING_MODE` | `poll` or `push` (subscribe at registration, take callbacks) | `poll` |
//! | `KDNIAO_EBUSINESS_ID`, `KDNIAO_API_KEY` | Kdniao credentials | required for kdniao |
//! | `KDNIAO_API_URL` | query endpoint (1002/8001/2002) | `https://api.kdniao.com/Ebusiness/EbusinessOrderHandle.aspx` |
//! | `KDNIAO_SUBSCRIBE_URL` | subscription endpoint (8008) | `https://api.kdniao.com/api/dist`, or `KDNIAO_API_URL` when only that is set (sandbox: one URL for all) |
//! | `KDNIAO_REQUEST_TYPE` | `1002` (standard) or `8001` (value-added) instant query | `1002` |
//! | `KUAIDI100_CUSTOMER`, `KUAIDI100_KEY` | Kuaidi100 credentials | required for kuaidi100 |
//! | `KUAIDI100_API_URL` | real-time query endpoint | `https://poll.kuaidi100.com/poll/query.do` |
//! | `KUAIDI100_SUBSCRIBE_URL` | subscription endpoint | `https://poll.kuaidi100.com/poll`, or `KUAIDI100_API_URL` without `/query.do` |
//! | `KUAIDI100_CALLBACK_URL`, `KUAIDI100_SALT` | push callback URL and signing salt | required for kuaidi100 push |
//! | `KDNIAO_QPS`, `KUAIDI100_QPS` | requests per second, never exceeded | 10 |
//! | `CARRIER_TIMEOUT_MS` | per-request timeout | 10000 |
//! | `CARRIER_RETRIES` | retries of a transient failure (network, 5xx, rate limit) | 2 |
//! | `CARRIER_CONCURRENCY` | parcels checked at once | 16 |
//!
//! Keys and salts are [`Secret`]s: they never appear in `Debug`, logs or errors.
//! On AWS the functions may read them from SSM Parameter Store instead
//! ([`SECRET_VARIABLES`]; `KDNIAO_API_KEY_PARAMETER` names the parameter holding
//! `KDNIAO_API_KEY`, and so on): `sentinel_aws::secrets` resolves them and passes
//! them in through [`ProviderSettings::from_lookup`].

use std::time::Duration;

use shared::config::ConfigError;
use shared::domain::Shipment;
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, CarrierSubscribe};
use shared::schedule::TrackingMode;

pub mod detect;
pub mod guard;
pub mod http;
pub mod kdniao;
pub mod kuaidi100;
pub mod push;
pub mod sign;

pub use detect::Detection;
use guard::GuardConfig;
pub use kdniao::{Kdniao, KdniaoConfig, KdniaoQuery};
pub use kuaidi100::{Kuaidi100, Kuaidi100Config};
use sentinel_resilience::RetryPolicy;
pub use shared::secret::Secret;

/// A provider's text (a failure reason, an error code) as an error shows it: on
/// one line, phone numbers masked, clipped ([`shared::clip`]).
pub(crate) fn echo(text: &str) -> String {
    let line = shared::normalise::keywords::mask_phones(text.trim()).replace(['\n', '\r'], " ");
    shared::clip::clip(&line).to_string()
}

/// Which provider answers carrier queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    Kdniao,
    Kuaidi100,
    Sim,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Kdniao => "kdniao",
            ProviderKind::Kuaidi100 => "kuaidi100",
            ProviderKind::Sim => "sim",
        }
    }
}

/// The provider configuration, read once at start.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub mode: TrackingMode,
    /// Present when its credentials are set (Kdniao also serves detection when
    /// another provider answers queries).
    pub kdniao: Option<KdniaoConfig>,
    pub kuaidi100: Option<Kuaidi100Config>,
    pub kdniao_guard: GuardConfig,
    pub kuaidi100_guard: GuardConfig,
    /// Parcels checked at once by one tracker.
    pub concurrency: usize,
}

pub const KDNIAO_QUERY_URL: &str = "https://api.kdniao.com/Ebusiness/EbusinessOrderHandle.aspx";
pub const KDNIAO_SUBSCRIBE_URL: &str = "https://api.kdniao.com/api/dist";
pub const KUAIDI100_QUERY_URL: &str = "https://poll.kuaidi100.com/poll/query.do";
pub const KUAIDI100_SUBSCRIBE_URL: &str = "https://poll.kuaidi100.com/poll";

/// Every variable this module reads.
pub const VARIABLES: [&str; 18] = [
    "CARRIER_PROVIDER",
    "TRACKING_MODE",
    "KDNIAO_EBUSINESS_ID",
    "KDNIAO_API_KEY",
    "KDNIAO_API_URL",
    "KDNIAO_SUBSCRIBE_URL",
    "KDNIAO_REQUEST_TYPE",
    "KDNIAO_QPS",
    "KUAIDI100_CUSTOMER",
    "KUAIDI100_KEY",
    "KUAIDI100_API_URL",
    "KUAIDI100_SUBSCRIBE_URL",
    "KUAIDI100_CALLBACK_URL",
    "KUAIDI100_SALT",
    "KUAIDI100_QPS",
    "CARRIER_TIMEOUT_MS",
    "CARRIER_RETRIES",
    "CARRIER_CONCURRENCY",
];

/// The variables that hold secrets, which may also come from SSM parameters.
pub const SECRET_VARIABLES: [&str; 3] = ["KDNIAO_API_KEY", "KUAIDI100_KEY", "KUAIDI100_SALT"];

fn bad(var: &'static str, token: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        token: token.to_string(),
        reason: reason.into(),
    }
}

fn missing(var: &'static str, why: &str) -> ConfigError {
    bad(var, "", format!("not set; required {why}"))
}

fn parse_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(raw.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(raw.trim().to_string())
        }
        _ => Err(bad(var, raw, "expected an http(s) URL")),
    }
}

fn parse_number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    var: &'static str,
    raw: &str,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    match raw.trim().parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(bad(
            var,
            raw,
            format!("expected a number from {min} to {max}"),
        )),
    }
}

/// `TRACKING_MODE` (`poll`, the default, or `push`); anything else is an error
/// naming the variable, wherever it is read (the provider settings, and `sentinel
/// add`/`import`, which need no provider in poll mode).
pub fn tracking_mode(get: impl Fn(&str) -> Option<String>) -> Result<TrackingMode, ConfigError> {
    match get("TRACKING_MODE") {
        None => Ok(TrackingMode::Poll),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "poll" | "" => Ok(TrackingMode::Poll),
            "push" => Ok(TrackingMode::Push),
            _ => Err(bad("TRACKING_MODE", &v, "expected poll or push")),
        },
    }
}

impl ProviderSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get` (tests pass a map). Empty counts as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let kind = match get("CARRIER_PROVIDER") {
            None => ProviderKind::Kdniao,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "kdniao" => ProviderKind::Kdniao,
                "kuaidi100" => ProviderKind::Kuaidi100,
                "sim" => ProviderKind::Sim,
                _ => {
                    return Err(bad(
                        "CARRIER_PROVIDER",
                        &v,
                        "expected kdniao, kuaidi100 or sim",
                    ))
                }
            },
        };
        let mode = tracking_mode(get)?;

        let kdniao_api_url = get("KDNIAO_API_URL")
            .map(|v| parse_url("KDNIAO_API_URL", &v))
            .transpose()?;
        let kdniao_subscribe_url = match get("KDNIAO_SUBSCRIBE_URL") {
            Some(v) => parse_url("KDNIAO_SUBSCRIBE_URL", &v)?,
            None => kdniao_api_url
                .clone()
                .unwrap_or_else(|| KDNIAO_SUBSCRIBE_URL.to_string()),
        };
        let query = match get("KDNIAO_REQUEST_TYPE") {
            None => KdniaoQuery::Standard,
            Some(v) => match v.trim() {
                "1002" => KdniaoQuery::Standard,
                "8001" => KdniaoQuery::ValueAdded,
                _ => return Err(bad("KDNIAO_REQUEST_TYPE", &v, "expected 1002 or 8001")),
            },
        };
        let kdniao = match (get("KDNIAO_EBUSINESS_ID"), get("KDNIAO_API_KEY")) {
            (Some(id), Some(key)) => Some(KdniaoConfig {
                ebusiness_id: id.trim().to_string(),
                api_key: Secret::new(key.trim()),
                api_url: kdniao_api_url.unwrap_or_else(|| KDNIAO_QUERY_URL.to_string()),
                subscribe_url: kdniao_subscribe_url,
                query,
            }),
            (None, None) if kind != ProviderKind::Kdniao => None,
            (None, _) => {
                return Err(missing(
                    "KDNIAO_EBUSINESS_ID",
                    "with CARRIER_PROVIDER=kdniao (the default) or with KDNIAO_API_KEY",
                ))
            }
            (_, None) => return Err(missing("KDNIAO_API_KEY", "with KDNIAO_EBUSINESS_ID")),
        };

        let k100_api_url = get("KUAIDI100_API_URL")
            .map(|v| parse_url("KUAIDI100_API_URL", &v))
            .transpose()?;
        let k100_subscribe_url = match get("KUAIDI100_SUBSCRIBE_URL") {
            Some(v) => parse_url("KUAIDI100_SUBSCRIBE_URL", &v)?,
            None => match &k100_api_url {
                Some(u) => u
                    .strip_suffix("/query.do")
                    .unwrap_or(u.as_str())
                    .to_string(),
                None => KUAIDI100_SUBSCRIBE_URL.to_string(),
            },
        };
        let callback_url = get("KUAIDI100_CALLBACK_URL")
            .map(|v| parse_url("KUAIDI100_CALLBACK_URL", &v))
            .transpose()?;
        let salt = get("KUAIDI100_SALT").map(|s| Secret::new(s.trim()));
        let kuaidi100 = match (get("KUAIDI100_CUSTOMER"), get("KUAIDI100_KEY")) {
            (Some(customer), Some(key)) => Some(Kuaidi100Config {
                customer: customer.trim().to_string(),
                key: Secret::new(key.trim()),
                api_url: k100_api_url.unwrap_or_else(|| KUAIDI100_QUERY_URL.to_string()),
                subscribe_url: k100_subscribe_url,
                callback_url,
                salt,
            }),
            (None, None) if kind != ProviderKind::Kuaidi100 => None,
            (None, _) => {
                return Err(missing(
                    "KUAIDI100_CUSTOMER",
                    "with CARRIER_PROVIDER=kuaidi100 or with KUAIDI100_KEY",
                ))
            }
            (_, None) => return Err(missing("KUAIDI100_KEY", "with KUAIDI100_CUSTOMER")),
        };
        if kind == ProviderKind::Kuaidi100 && mode == TrackingMode::Push {
            let k = kuaidi100.as_ref();
            if k.and_then(|k| k.callback_url.as_ref()).is_none() {
                return Err(missing(
                    "KUAIDI100_CALLBACK_URL",
                    "with TRACKING_MODE=push and CARRIER_PROVIDER=kuaidi100",
                ));
            }
            if k.and_then(|k| k.salt.as_ref()).is_none() {
                return Err(missing("KUAIDI100_SALT", "with TRACKING_MODE=push and CARRIER_PROVIDER=kuaidi100 (unsigned callbacks are refused)"));
            }
        }

        let timeout = match get("CARRIER_TIMEOUT_MS") {
            Some(v) => {
                Duration::from_millis(parse_number("CARRIER_TIMEOUT_MS", &v, 100u64, 120_000)?)
            }
            None => Duration::from_secs(10),
        };
        let retries = match get("CARRIER_RETRIES") {
            Some(v) => parse_number("CARRIER_RETRIES", &v, 0u32, 10)?,
            None => 2,
        };
        let concurrency = match get("CARRIER_CONCURRENCY") {
            Some(v) => parse_number("CARRIER_CONCURRENCY", &v, 1usize, 1024)?,
            None => 16,
        };
        let guard = |var: &'static str| -> Result<GuardConfig, ConfigError> {
            let qps = match get(var) {
                Some(v) => parse_number(var, &v, 0.01f64, 10_000.0)?,
                None => 10.0,
            };
            Ok(GuardConfig {
                qps,
                timeout,
                retry: RetryPolicy {
                    attempts: retries + 1,
                    ..RetryPolicy::default()
                },
                ..GuardConfig::default()
            })
        };
        Ok(Self {
            kind,
            mode,
            kdniao,
            kuaidi100,
            kdniao_guard: guard("KDNIAO_QPS")?,
            kuaidi100_guard: guard("KUAIDI100_QPS")?,
            concurrency,
        })
    }
}

/// A configured real provider. An enum rather than a trait object: the
/// [`CarrierQuery`] port returns `impl Future`, and there are only two.
#[derive(Debug)]
pub enum Provider {
    Kdniao(Kdniao),
    Kuaidi100(Kuaidi100),
}

/// Why a provider could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("CARRIER_PROVIDER=sim answers only for simulated fleets (sentinel demo); set kdniao or kuaidi100")]
    SimOnly,
    #[error(transparent)]
    Carrier(#[from] CarrierError),
}

impl Provider {
    /// The provider that subscribes new parcels: the configured one in push mode
    /// with a real provider; otherwise none (poll mode subscribes nothing, and the
    /// simulated provider pushes without being asked).
    pub fn subscriber(settings: &ProviderSettings) -> Result<Option<Self>, ProviderError> {
        if settings.mode == TrackingMode::Push && settings.kind != ProviderKind::Sim {
            Provider::from_settings(settings).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The provider `settings.kind` names (its credentials were checked when the
    /// settings were read).
    pub fn from_settings(settings: &ProviderSettings) -> Result<Self, ProviderError> {
        match settings.kind {
            ProviderKind::Sim => Err(ProviderError::SimOnly),
            ProviderKind::Kdniao => match &settings.kdniao {
                Some(c) => Ok(Provider::Kdniao(Kdniao::new(
                    c.clone(),
                    settings.kdniao_guard.clone(),
                )?)),
                None => Err(CarrierError::BadCredentials(
                    "KDNIAO_EBUSINESS_ID/KDNIAO_API_KEY not set".into(),
                )
                .into()),
            },
            ProviderKind::Kuaidi100 => match &settings.kuaidi100 {
                Some(c) => Ok(Provider::Kuaidi100(Kuaidi100::new(
                    c.clone(),
                    settings.kuaidi100_guard.clone(),
                )?)),
                None => Err(CarrierError::BadCredentials(
                    "KUAIDI100_CUSTOMER/KUAIDI100_KEY not set".into(),
                )
                .into()),
            },
        }
    }
}

impl CarrierQuery for Provider {
    fn name(&self) -> &str {
        match self {
            Provider::Kdniao(_) => "kdniao",
            Provider::Kuaidi100(_) => "kuaidi100",
        }
    }

    async fn query(&self, shipment: &Shipment) -> Result<CarrierReply, CarrierError> {
        match self {
            Provider::Kdniao(k) => k.query(shipment).await,
            Provider::Kuaidi100(k) => k.query(shipment).await,
        }
    }
}

impl CarrierSubscribe for Provider {
    async fn subscribe(&self, shipment: &Shipment) -> Result<(), CarrierError> {
        match self {
            Provider::Kdniao(k) => k.subscribe(shipment).await,
            Provider::Kuaidi100(k) => k.subscribe(shipment).await,
        }
    }
}

/// Finds the carrier of a tracking number: the local pattern rules first; when
/// they are not sure and Kdniao credentials are present, Kdniao's recognition
/// (2002). Ambiguity is returned as such, never resolved by a guess.
pub async fn detect_carrier(
    number: &str,
    kdniao: Option<&Kdniao>,
) -> Result<Detection, CarrierError> {
    let local = detect::local(number);
    if matches!(local, Detection::Unique(_)) {
        return Ok(local);
    }
    let Some(k) = kdniao else {
        return Ok(local);
    };
    let remote = k.recognise(number).await?;
    Ok(match remote.as_slice() {
        [] => local,
        [one] => Detection::Unique(one.clone()),
        many => Detection::Ambiguous(many.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<ProviderSettings, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProviderSettings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_need_kdniao_credentials() {
        let e = read(&[]).unwrap_err();
        assert_eq!(e.var, "KDNIAO_EBUSINESS_ID");
        let s = read(&[("KDNIAO_EBUSINESS_ID", "1000000"), ("KDNIAO_API_KEY", "k")]).unwrap();
        assert_eq!(s.kind, ProviderKind::Kdniao);
        assert_eq!(s.mode, TrackingMode::Poll);
        let k = s.kdniao.unwrap();
        assert_eq!(k.api_url, KDNIAO_QUERY_URL);
        assert_eq!(k.subscribe_url, KDNIAO_SUBSCRIBE_URL);
        assert_eq!(k.query, KdniaoQuery::Standard);
        assert_eq!(s.kdniao_guard.qps, 10.0);
        assert_eq!(s.kdniao_guard.retry.attempts, 3);
        assert_eq!(s.concurrency, 16);
        assert!(s.kuaidi100.is_none());
    }

    #[test]
    fn urls_and_numbers_are_checked() {
        let base = [("KDNIAO_EBUSINESS_ID", "1"), ("KDNIAO_API_KEY", "k")];
        for (var, value) in [
            ("KDNIAO_API_URL", "ftp://x"),
            ("KDNIAO_QPS", "0"),
            ("KDNIAO_QPS", "fast"),
            ("KUAIDI100_QPS", "-1"),
            ("KDNIAO_REQUEST_TYPE", "8008"),
            ("CARRIER_TIMEOUT_MS", "5"),
            ("CARRIER_RETRIES", "x"),
            ("CARRIER_CONCURRENCY", "0"),
            ("CARRIER_PROVIDER", "17track"),
            ("TRACKING_MODE", "webhook"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            let e = read(&vars).unwrap_err();
            assert_eq!(e.var, var, "{e}");
            assert_eq!(e.token, value);
        }
        let s = read(&[
            ("KDNIAO_EBUSINESS_ID", "1"),
            ("KDNIAO_API_KEY", "k"),
            ("KDNIAO_API_URL", "http://127.0.0.1:9000/gw"),
            ("KDNIAO_REQUEST_TYPE", "8001"),
            ("KDNIAO_QPS", "2.5"),
        ])
        .unwrap();
        let k = s.kdniao.unwrap();
        // One URL for everything, as in the sandbox.
        assert_eq!(k.subscribe_url, "http://127.0.0.1:9000/gw");
        assert_eq!(k.query, KdniaoQuery::ValueAdded);
        assert_eq!(s.kdniao_guard.qps, 2.5);
    }

    #[test]
    fn kuaidi100_push_needs_callback_and_salt() {
        let base = [
            ("CARRIER_PROVIDER", "kuaidi100"),
            ("KUAIDI100_CUSTOMER", "C"),
            ("KUAIDI100_KEY", "K"),
            ("KUAIDI100_API_URL", "http://127.0.0.1:9/poll/query.do"),
        ];
        let s = read(&base).unwrap();
        assert!(s.kdniao.is_none());
        assert_eq!(
            s.kuaidi100.as_ref().unwrap().subscribe_url,
            "http://127.0.0.1:9/poll"
        );
        let mut push = base.to_vec();
        push.push(("TRACKING_MODE", "push"));
        assert_eq!(read(&push).unwrap_err().var, "KUAIDI100_CALLBACK_URL");
        push.push((
            "KUAIDI100_CALLBACK_URL",
            "https://example.com/callbacks/kuaidi100",
        ));
        assert_eq!(read(&push).unwrap_err().var, "KUAIDI100_SALT");
        push.push(("KUAIDI100_SALT", "s"));
        assert_eq!(read(&push).unwrap().mode, TrackingMode::Push);
        // Half a credential pair is an error naming the missing half.
        assert_eq!(
            read(&[("CARRIER_PROVIDER", "kuaidi100"), ("KUAIDI100_KEY", "K")])
                .unwrap_err()
                .var,
            "KUAIDI100_CUSTOMER"
        );
    }

    #[test]
    fn secrets_never_show() {
        let s = read(&[
            ("KDNIAO_EBUSINESS_ID", "1"),
            ("KDNIAO_API_KEY", "kd-secret-123"),
            ("KUAIDI100_CUSTOMER", "C"),
            ("KUAIDI100_KEY", "k100-secret-456"),
            ("KUAIDI100_SALT", "salt-789"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        for secret in ["kd-secret-123", "k100-secret-456", "salt-789"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn sim_is_not_a_live_provider() {
        let s = read(&[("CARRIER_PROVIDER", "sim")]).unwrap();
        assert_eq!(
            Provider::from_settings(&s).unwrap_err(),
            ProviderError::SimOnly
        );
    }
}
