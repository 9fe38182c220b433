//! The clients' failure path: a provider reply judged a failure by the
//! normaliser's verdict (`kdniao_verdict`, `kuaidi100_verdict`) becomes a typed
//! `CarrierError` through `kdniao::classify` / `kuaidi100::classify`, exactly as
//! the clients do before retrying or storing the error on the parcel.
//!
//! Whatever the reply's `Reason`/`message` and `Code`/`returnCode` hold, the
//! error is one line, bounded, and never shows a phone number whole.

use proptest::prelude::*;
use serde_json::{json, Value};

use sentinel_carriers::{kdniao, kuaidi100};
use shared::normalise::{kdniao_verdict, kuaidi100_verdict, Verdict};
use shared::ports::CarrierError;

use crate::support::{bounded, fuzz, hostile_text};

/// Fixed text, a clipped reason (80 characters) and a clipped code.
const MAX_ERROR: usize = 400;

fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("业务错误[没有可用套餐]".to_string()),
        Just("查询次数超过限制".to_string()),
        Just("非法参数[请核实ID和key是否正确]".to_string()),
        Just("找不到对应公司".to_string()),
        Just("服务器错误".to_string()),
        Just("收件人电话 13812345678 错误".to_string()),
        Just(String::new()),
        hostile_text(),
    ]
}

fn code() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        Just(json!("405")),
        Just(json!(102)),
        Just(json!("500")),
        Just(json!("601")),
        Just(json!("13812345678")),
        hostile_text().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
    ])
}

/// What a client makes of a reply: its error, if the verdict is a failure.
fn kdniao_error(v: &Value) -> Option<CarrierError> {
    match kdniao_verdict(v) {
        Ok(Verdict::Failure { code, reason }) => Some(kdniao::classify(&reason, code.as_deref())),
        _ => None,
    }
}

fn kuaidi100_error(v: &Value) -> Option<CarrierError> {
    match kuaidi100_verdict(v) {
        Ok(Verdict::Failure { code, reason }) => {
            Some(kuaidi100::classify(code.as_deref(), &reason))
        }
        _ => None,
    }
}

fn check(e: &CarrierError) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    bounded("carrier error", &shown, MAX_ERROR)?;
    prop_assert!(!shown.contains("13812345678"), "{}", shown);
    Ok(())
}

#[test]
fn provider_failures_become_bounded_typed_errors() {
    let strategy = (reason(), code(), code(), any::<bool>());
    fuzz(
        "client_failures",
        512,
        strategy,
        |(reason, code, status, flag)| {
            // Kdniao: Success false, a Reason, maybe a Code.
            let mut kd = json!({"Success": false, "Reason": reason, "State": "0"});
            if let Some(c) = &code {
                kd["Code"] = c.clone();
            }
            if flag {
                kd["success"] = json!(false);
            }
            if let Some(e) = kdniao_error(&kd) {
                check(&e)?;
            }
            // Kuaidi100: result false, a message, maybe a returnCode and a status.
            let mut k = json!({"result": false, "message": reason});
            if let Some(c) = &code {
                k["returnCode"] = c.clone();
            }
            if let Some(s) = &status {
                k["status"] = s.clone();
            }
            if let Some(e) = kuaidi100_error(&k) {
                check(&e)?;
            }
            // The classifiers on their own, with any text.
            let code_text = code.as_ref().map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            check(&kdniao::classify(&reason, code_text.as_deref()))?;
            check(&kuaidi100::classify(code_text.as_deref(), &reason))?;
            Ok(())
        },
    );
}
