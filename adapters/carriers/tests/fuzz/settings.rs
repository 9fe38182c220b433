//! Provider configuration from the environment
//! (`ProviderSettings::from_lookup`, the table in the crate documentation).
//!
//! A generated valid environment gives exactly the settings it names (defaults
//! for the rest, the subscription URLs derived as documented); one bad value of
//! a checked variable is an error naming it; any environment at all gives
//! settings or a bounded one-line error, and no secret ever appears in an error
//! or in `Debug`.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use sentinel_carriers::{
    KdniaoQuery, ProviderKind, ProviderSettings, KDNIAO_QUERY_URL, KDNIAO_SUBSCRIBE_URL,
    KUAIDI100_QUERY_URL, KUAIDI100_SUBSCRIBE_URL, VARIABLES,
};
use shared::schedule::TrackingMode;

use crate::support::{bounded, fuzz, hostile_text, odd_text};

const MAX_ERROR: usize = 80 * 10 + 200;

fn lookup(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

/// A valid environment and what it must give.
#[derive(Clone, Debug)]
struct Env {
    vars: HashMap<String, String>,
    kind: ProviderKind,
    mode: TrackingMode,
    kdniao: Option<(String, String)>,
    kdniao_url: Option<String>,
    kdniao_subscribe: Option<String>,
    value_added: bool,
    k100: Option<(String, String)>,
    k100_url: Option<String>,
    k100_subscribe: Option<String>,
    callback: Option<String>,
    salt: Option<String>,
    qps: (Option<f64>, Option<f64>),
    timeout_ms: Option<u64>,
    retries: Option<u32>,
    concurrency: Option<usize>,
}

fn url() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&["http", "https", "HTTPS"][..]),
        prop_oneof![
            Just("127.0.0.1:9000".to_string()),
            "[a-z]{1,10}\\.example\\.com",
            Just("[::1]:8080".to_string())
        ],
        "(/[a-z0-9._-]{1,8}){0,3}",
        any::<bool>(),
    )
        .prop_map(|(scheme, host, path, query_do)| {
            let path = if query_do {
                format!("{path}/query.do")
            } else {
                path
            };
            format!("{scheme}://{host}{path}")
        })
}

/// A secret that cannot appear anywhere by chance.
fn secret() -> impl Strategy<Value = String> {
    "S3CR3T[A-Za-z0-9]{8,16}"
}

fn padded(s: &str, pad: bool) -> String {
    if pad {
        format!(" {s}\t")
    } else {
        s.to_string()
    }
}

fn env() -> impl Strategy<Value = Env> {
    (
        (
            proptest::option::of(proptest::sample::select(
                &["kdniao", "KUAIDI100", "kuaidi100", "Sim"][..],
            )),
            proptest::option::of(proptest::sample::select(&["poll", "PUSH", "push", " "][..])),
            proptest::option::of(("[0-9]{7}", secret())),
            proptest::option::of(url()),
            proptest::option::of(url()),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
        ),
        (
            proptest::option::of(("[A-Z0-9]{6,12}", secret())),
            proptest::option::of(url()),
            proptest::option::of(url()),
            proptest::option::of(url()),
            proptest::option::of(secret()),
        ),
        (
            proptest::option::of(1u32..1_000_000),
            proptest::option::of(1u32..1_000_000),
            proptest::option::of(100u64..=120_000),
            proptest::option::of(0u32..=10),
            proptest::option::of(1usize..=1024),
        ),
    )
        .prop_map(|(kd, k100, nums)| {
            let (kind, mode, kdniao, kd_url, kd_sub, value_added, pad) = kd;
            let (k100, k_url, k_sub, callback, salt) = k100;
            let (qps_kd, qps_k, timeout_ms, retries, concurrency) = nums;
            let mut vars = HashMap::new();
            let mut set = |k: &str, v: String| {
                vars.insert(k.to_string(), padded(&v, pad));
            };
            if let Some(k) = kind {
                set("CARRIER_PROVIDER", k.to_string());
            }
            if let Some(m) = mode {
                set("TRACKING_MODE", m.to_string());
            }
            if let Some((id, key)) = &kdniao {
                set("KDNIAO_EBUSINESS_ID", id.clone());
                set("KDNIAO_API_KEY", key.clone());
            }
            if let Some(u) = &kd_url {
                set("KDNIAO_API_URL", u.clone());
            }
            if let Some(u) = &kd_sub {
                set("KDNIAO_SUBSCRIBE_URL", u.clone());
            }
            if let Some(va) = value_added {
                set(
                    "KDNIAO_REQUEST_TYPE",
                    if va { "8001" } else { "1002" }.into(),
                );
            }
            if let Some((c, k)) = &k100 {
                set("KUAIDI100_CUSTOMER", c.clone());
                set("KUAIDI100_KEY", k.clone());
            }
            if let Some(u) = &k_url {
                set("KUAIDI100_API_URL", u.clone());
            }
            if let Some(u) = &k_sub {
                set("KUAIDI100_SUBSCRIBE_URL", u.clone());
            }
            if let Some(u) = &callback {
                set("KUAIDI100_CALLBACK_URL", u.clone());
            }
            if let Some(s) = &salt {
                set("KUAIDI100_SALT", s.clone());
            }
            // QPS in hundredths: 0.01 to 10 000.
            let qps = |h: Option<u32>| h.map(|h| f64::from(h) / 100.0);
            if let Some(q) = qps(qps_kd) {
                set("KDNIAO_QPS", q.to_string());
            }
            if let Some(q) = qps(qps_k) {
                set("KUAIDI100_QPS", q.to_string());
            }
            if let Some(t) = timeout_ms {
                set("CARRIER_TIMEOUT_MS", t.to_string());
            }
            if let Some(r) = retries {
                set("CARRIER_RETRIES", r.to_string());
            }
            if let Some(c) = concurrency {
                set("CARRIER_CONCURRENCY", c.to_string());
            }
            let kind = match kind.map(str::to_ascii_lowercase).as_deref() {
                Some("kuaidi100") => ProviderKind::Kuaidi100,
                Some("sim") => ProviderKind::Sim,
                _ => ProviderKind::Kdniao,
            };
            let mode = match mode.map(str::to_ascii_lowercase).as_deref() {
                Some("push") => TrackingMode::Push,
                _ => TrackingMode::Poll,
            };
            Env {
                vars,
                kind,
                mode,
                kdniao,
                kdniao_url: kd_url,
                kdniao_subscribe: kd_sub,
                value_added: value_added == Some(true),
                k100,
                k100_url: k_url,
                k100_subscribe: k_sub,
                callback,
                salt,
                qps: (qps(qps_kd), qps(qps_k)),
                timeout_ms,
                retries,
                concurrency,
            }
        })
}

impl Env {
    /// The variable a valid-looking environment must be refused for, if any.
    fn missing(&self) -> Option<&'static str> {
        if self.kdniao.is_none() && self.kind == ProviderKind::Kdniao {
            return Some("KDNIAO_EBUSINESS_ID");
        }
        if self.k100.is_none() && self.kind == ProviderKind::Kuaidi100 {
            return Some("KUAIDI100_CUSTOMER");
        }
        if self.kind == ProviderKind::Kuaidi100 && self.mode == TrackingMode::Push {
            if self.callback.is_none() {
                return Some("KUAIDI100_CALLBACK_URL");
            }
            if self.salt.is_none() {
                return Some("KUAIDI100_SALT");
            }
        }
        None
    }

    fn check(&self, s: &ProviderSettings) -> Result<(), TestCaseError> {
        prop_assert_eq!(s.kind, self.kind);
        prop_assert_eq!(s.mode, self.mode);
        match (&self.kdniao, &s.kdniao) {
            (Some((id, key)), Some(k)) => {
                prop_assert_eq!(&k.ebusiness_id, id);
                prop_assert_eq!(k.api_key.expose(), key.as_str());
                let api = self.kdniao_url.clone();
                prop_assert_eq!(
                    &k.api_url,
                    &api.clone().unwrap_or_else(|| KDNIAO_QUERY_URL.into())
                );
                // The subscription URL: its own, else the one query URL (a
                // sandbox has one URL for all), else the production one.
                let sub = self
                    .kdniao_subscribe
                    .clone()
                    .or(api)
                    .unwrap_or_else(|| KDNIAO_SUBSCRIBE_URL.into());
                prop_assert_eq!(&k.subscribe_url, &sub);
                let q = if self.value_added {
                    KdniaoQuery::ValueAdded
                } else {
                    KdniaoQuery::Standard
                };
                prop_assert_eq!(k.query, q);
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "kdniao {:?} → {:?}", want, got),
        }
        match (&self.k100, &s.kuaidi100) {
            (Some((customer, key)), Some(k)) => {
                prop_assert_eq!(&k.customer, customer);
                prop_assert_eq!(k.key.expose(), key.as_str());
                let api = self.k100_url.clone();
                prop_assert_eq!(
                    &k.api_url,
                    &api.clone().unwrap_or_else(|| KUAIDI100_QUERY_URL.into())
                );
                let sub = self.k100_subscribe.clone().unwrap_or_else(|| match &api {
                    Some(u) => u.strip_suffix("/query.do").unwrap_or(u).to_string(),
                    None => KUAIDI100_SUBSCRIBE_URL.into(),
                });
                prop_assert_eq!(&k.subscribe_url, &sub);
                prop_assert_eq!(&k.callback_url, &self.callback);
                prop_assert_eq!(k.salt.as_ref().map(|s| s.expose()), self.salt.as_deref());
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "kuaidi100 {:?} → {:?}", want, got),
        }
        prop_assert_eq!(s.kdniao_guard.qps, self.qps.0.unwrap_or(10.0));
        prop_assert_eq!(s.kuaidi100_guard.qps, self.qps.1.unwrap_or(10.0));
        let timeout = Duration::from_millis(self.timeout_ms.unwrap_or(10_000));
        let attempts = self.retries.unwrap_or(2) + 1;
        for g in [&s.kdniao_guard, &s.kuaidi100_guard] {
            prop_assert_eq!(g.timeout, timeout);
            prop_assert_eq!(g.retry.attempts, attempts);
        }
        prop_assert_eq!(s.concurrency, self.concurrency.unwrap_or(16));
        // Secrets never show.
        let shown = format!("{s:?}");
        for secret in [
            self.kdniao.as_ref().map(|(_, k)| k),
            self.k100.as_ref().map(|(_, k)| k),
            self.salt.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!shown.contains(secret.as_str()), "{}", shown);
        }
        Ok(())
    }
}

#[test]
fn a_valid_environment_gives_the_settings_it_names() {
    fuzz("provider_settings_roundtrip", 384, env(), |e| {
        match (
            ProviderSettings::from_lookup(lookup(e.vars.clone())),
            e.missing(),
        ) {
            (Ok(s), None) => e.check(&s)?,
            (Err(err), Some(var)) => {
                prop_assert_eq!(err.var, var);
                prop_assert!(err.reason.starts_with("not set"), "{}", err);
            }
            (r, want) => prop_assert!(false, "{:?} → {:?}; expected {:?}", e.vars, r, want),
        }
        Ok(())
    });
}

/// The variables whose values are checked, with values each refuses.
const CHECKED: &[(&str, &[&str])] = &[
    ("CARRIER_PROVIDER", &["17track", "kdniao2", "s im"]),
    ("TRACKING_MODE", &["webhook", "pull", "push!"]),
    ("KDNIAO_API_URL", &["ftp://x", "not a url", "http://"]),
    (
        "KDNIAO_SUBSCRIBE_URL",
        &["file:///etc/passwd", "//x.example.com"],
    ),
    ("KDNIAO_REQUEST_TYPE", &["8008", "1002x", "1 002"]),
    (
        "KDNIAO_QPS",
        &["0", "-1", "fast", "10001", "NaN", "inf", "0.001"],
    ),
    ("KUAIDI100_API_URL", &["mailto:a@b", "x"]),
    ("KUAIDI100_SUBSCRIBE_URL", &["ws://x"]),
    ("KUAIDI100_CALLBACK_URL", &["example.com/callback"]),
    ("KUAIDI100_QPS", &["1e9", "-0.5", "1,5"]),
    ("CARRIER_TIMEOUT_MS", &["99", "120001", "10s", "-1", "1.5"]),
    ("CARRIER_RETRIES", &["11", "-1", "two", "4294967296"]),
    (
        "CARRIER_CONCURRENCY",
        &["0", "1025", "many", "18446744073709551616"],
    ),
];

#[test]
fn one_bad_value_among_valid_ones_is_named() {
    let strategy = (
        env().prop_filter("valid", |e| e.missing().is_none()),
        0..CHECKED.len(),
        any::<proptest::sample::Index>(),
        prop_oneof![Just(String::new()), hostile_text()],
        any::<bool>(),
    );
    fuzz(
        "provider_settings_one_bad",
        512,
        strategy,
        |(mut e, i, j, junk, use_junk)| {
            let (var, bads) = CHECKED[i];
            let bad = if use_junk && !junk.trim().is_empty() {
                junk
            } else {
                bads[j.index(bads.len())].to_string()
            };
            e.vars.insert(var.to_string(), bad.clone());
            match ProviderSettings::from_lookup(lookup(e.vars.clone())) {
                Ok(_) => prop_assert!(use_junk, "{} = {:?} was taken", var, bad),
                Err(err) => {
                    bounded("config error", &err.to_string(), MAX_ERROR)?;
                    // The provider or mode changed: then a credential may be missing.
                    let needs = [
                        "KDNIAO_EBUSINESS_ID",
                        "KUAIDI100_CUSTOMER",
                        "KUAIDI100_CALLBACK_URL",
                        "KUAIDI100_SALT",
                    ];
                    let switched = matches!(var, "CARRIER_PROVIDER" | "TRACKING_MODE");
                    prop_assert!(
                        err.var == var || switched && needs.contains(&err.var),
                        "{} = {:?}: {}",
                        var,
                        bad,
                        err
                    );
                }
            }
            Ok(())
        },
    );
}

#[test]
fn any_environment_gives_settings_or_a_bounded_error_without_secrets() {
    let value = prop_oneof![
        4 => hostile_text(),
        1 => url(),
        1 => odd_text(),
        1 => "[0-9.]{0,8}",
        1 => secret(),
    ];
    let strategy = proptest::collection::hash_map(
        proptest::sample::select(VARIABLES.to_vec()).prop_map(str::to_string),
        value,
        0..10,
    );
    fuzz("provider_settings_hostile", 512, strategy, |vars| {
        let secrets: Vec<String> = ["KDNIAO_API_KEY", "KUAIDI100_KEY", "KUAIDI100_SALT"]
            .iter()
            .filter_map(|k| vars.get(*k))
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() >= 12)
            .collect();
        let shown = match ProviderSettings::from_lookup(lookup(vars.clone())) {
            Ok(s) => {
                prop_assert!(s.concurrency >= 1);
                prop_assert!(s.kdniao_guard.qps > 0.0 && s.kuaidi100_guard.qps > 0.0);
                format!("{s:?}")
            }
            Err(e) => {
                prop_assert!(VARIABLES.contains(&e.var));
                let shown = e.to_string();
                bounded("config error", &shown, MAX_ERROR)?;
                shown
            }
        };
        for s in &secrets {
            // Unless the same text is also the value of a variable that is shown.
            let elsewhere = vars
                .iter()
                .any(|(k, v)| !k.contains("KEY") && !k.contains("SALT") && v.contains(s.as_str()));
            prop_assert!(elsewhere || !shown.contains(s.as_str()), "{}", shown);
        }
        Ok(())
    });
}
