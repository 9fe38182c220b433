//! Secrets from SSM Parameter Store (`sentinel_aws::secrets`), on the emulator:
//! SecureStrings resolved with decryption in one call and fed into the provider and
//! chat loaders; the parameter wins over a plain value; a missing parameter is an
//! error naming the variable and the parameter, never a value.

mod common;

use std::collections::HashMap;

use aws_sdk_ssm::types::ParameterType;
use sentinel_aws::secrets::{SecretError, Secrets};
use sentinel_carriers::{ProviderKind, ProviderSettings, SECRET_VARIABLES};

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&common::emulator().await)
}

/// A SecureString under a fresh name; returns the name.
async fn secure(client: &aws_sdk_ssm::Client, what: &str, value: &str) -> String {
    let name = format!("/sentinel-test/{}", common::unique(what));
    client
        .put_parameter()
        .name(&name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put_parameter {name}: {e:?}"));
    name
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| m.get(k).cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn carrier_secrets_arrive_in_the_provider_settings() {
    let client = ssm().await;
    let key = secure(&client, "kdniao-key", "app-key-from-ssm").await;
    let salt = secure(&client, "k100-salt", "salt-from-ssm").await;
    let vars = env(&[
        ("KDNIAO_EBUSINESS_ID", "1000001"),
        ("KDNIAO_API_KEY_PARAMETER", &key),
        // Both given: the parameter wins.
        ("KDNIAO_API_KEY", "plain-and-ignored"),
        ("KUAIDI100_CUSTOMER", "CUST"),
        ("KUAIDI100_KEY", "plain-k100-key"),
        ("KUAIDI100_SALT_PARAMETER", &salt),
        (
            "KUAIDI100_CALLBACK_URL",
            "https://example.com/callbacks/kuaidi100",
        ),
        ("CARRIER_PROVIDER", "kuaidi100"),
        ("TRACKING_MODE", "push"),
    ]);
    let secrets = Secrets::resolve(&client, &SECRET_VARIABLES, &vars)
        .await
        .unwrap();
    assert_eq!(secrets.len(), 2);
    assert!(!format!("{secrets:?}").contains("from-ssm"));

    let settings = ProviderSettings::from_lookup(secrets.lookup_with(&vars)).unwrap();
    assert_eq!(settings.kind, ProviderKind::Kuaidi100);
    let kdniao = settings.kdniao.unwrap();
    assert_eq!(kdniao.ebusiness_id, "1000001");
    assert_eq!(kdniao.api_key.expose(), "app-key-from-ssm");
    let k100 = settings.kuaidi100.unwrap();
    // No parameter for the key: the plain value is used.
    assert_eq!(k100.key.expose(), "plain-k100-key");
    assert_eq!(k100.salt.unwrap().expose(), "salt-from-ssm");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_secrets_arrive_in_the_channels_and_one_parameter_may_serve_two() {
    let client = ssm().await;
    let hook = secure(
        &client,
        "slack",
        "https://hooks.slack.com/services/T0/B0/ssm",
    )
    .await;
    let feishu = secure(
        &client,
        "feishu",
        "https://open.feishu.cn/open-apis/bot/v2/hook/ssm",
    )
    .await;
    let secret = secure(&client, "feishu-secret", "feishu-signing").await;
    let vars = env(&[
        ("SLACK_WEBHOOK_PARAMETER", &hook),
        ("FEISHU_WEBHOOK_PARAMETER", &feishu),
        ("FEISHU_SECRET_PARAMETER", &secret),
        ("DINGTALK_SECRET_PARAMETER", "  "),
    ]);
    let secrets = Secrets::resolve(&client, &sentinel_chat::SECRET_VARIABLES, &vars)
        .await
        .unwrap();
    assert_eq!(secrets.len(), 3);
    let settings = sentinel_chat::ChannelSettings::from_lookup(secrets.lookup_with(&vars)).unwrap();
    assert_eq!(
        settings.slack.as_ref().map(|s| s.expose()),
        Some("https://hooks.slack.com/services/T0/B0/ssm")
    );
    let f = settings.feishu.unwrap();
    assert_eq!(
        f.webhook.expose(),
        "https://open.feishu.cn/open-apis/bot/v2/hook/ssm"
    );
    assert_eq!(f.secret.unwrap().expose(), "feishu-signing");
    assert!(settings.dingtalk.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_parameter_is_an_error_naming_it() {
    let client = ssm().await;
    let key = secure(&client, "present", "the-value").await;
    let missing = format!("/sentinel-test/{}", common::unique("absent"));
    let vars = env(&[
        ("KDNIAO_API_KEY_PARAMETER", &key),
        ("KUAIDI100_KEY_PARAMETER", &missing),
    ]);
    let e = Secrets::resolve(&client, &SECRET_VARIABLES, &vars)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        SecretError::NotFound {
            var: "KUAIDI100_KEY".into(),
            name: missing.clone(),
        }
    );
    let text = e.to_string();
    assert!(text.starts_with("KUAIDI100_KEY_PARAMETER: "), "{text}");
    assert!(text.contains(&missing), "{text}");
    assert!(!text.contains("the-value"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_ten_parameters_take_several_calls() {
    let client = ssm().await;
    let names: Vec<String> = (0..12).map(|i| format!("SECRET_{i}")).collect();
    let vars: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let name = secure(&client, "many", &format!("value-{i}")).await;
        pairs.push((format!("{var}_PARAMETER"), name));
    }
    let m: HashMap<String, String> = pairs.into_iter().collect();
    let secrets = Secrets::resolve(&client, &vars, |k: &str| m.get(k).cloned())
        .await
        .unwrap();
    assert_eq!(secrets.len(), 12);
    assert_eq!(secrets.get("SECRET_11").unwrap().expose(), "value-11");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_named_means_no_call() {
    // A client pointed nowhere: resolving without any *_PARAMETER never calls it.
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:1")
        .build();
    let client = aws_sdk_ssm::Client::from_conf(config);
    let vars = env(&[("KDNIAO_API_KEY", "plain")]);
    let secrets = Secrets::resolve(&client, &SECRET_VARIABLES, &vars)
        .await
        .unwrap();
    assert!(secrets.is_empty());
    assert_eq!(
        secrets.lookup_with(&vars)("KDNIAO_API_KEY").as_deref(),
        Some("plain")
    );
}
