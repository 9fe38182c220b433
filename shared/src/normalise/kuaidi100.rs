//! Kuaidi100 (快递100) replies: real-time query `poll/query.do` and the subscription
//! push's `param` JSON.
//!
//! Query reply: `message`, `nu`, `com`, `ischeck`, `status` (communication status,
//! "200" ok, "201" no such number), `state` (table below), `data[]` of `time`,
//! `ftime` (China local time; `ftime` preferred), `context` (text), `location`,
//! `areaName`, `status` (a status *name* with resultv2 ≥ 1), `statusCode`
//! (resultv2 = 4). Errors: `{"result":false,"returnCode":"500","message":...}`.

use serde_json::{Map, Value};

use super::{
    add_warning, as_object, classify_traces, code_value, failure, field, flags, get, non_terminal,
    opt_array, opt_text, raw_state, reply_status, show, text_value, time_error, time_of,
    CodeMeaning, CodeStatus, NormaliseError, RawTrace, TimeProblem, Verdict,
};
use crate::domain::{CarrierCode, Status};
use crate::normalise::carriers;
use crate::ports::CarrierReply;

/// The code space of the top-level `state` and per-event `statusCode`.
pub fn state_meaning(code: &str) -> CodeMeaning {
    use CodeMeaning::{NoStatus, Status as S};
    match code {
        "0" => S(Status::InTransit),
        "1" => S(Status::PickedUp),
        "2" => S(Status::Exception),
        "3" => S(Status::Delivered),
        "4" => S(Status::Returned),
        "5" => S(Status::OutForDelivery),
        "6" => S(Status::Returning),
        "7" => S(Status::Redirected),
        "8" | "10" | "11" | "12" => S(Status::CustomsClearance),
        "13" => S(Status::Exception),
        "14" => S(Status::Refused),
        "101" | "102" => S(Status::Pending),
        "103" => S(Status::PickedUp),
        "1001" => S(Status::ArrivedAtDestinationCity),
        "1002" | "1003" => S(Status::InTransit),
        "501" => S(Status::AwaitingCollection),
        // 304 投柜或站签收: signed for by the locker or station; delivered for us.
        "301" | "302" | "303" | "304" => S(Status::Delivered),
        // 超时未签收, 超时未更新: Kuaidi100's time judgements; the text decides.
        "201" | "202" => NoStatus,
        "203" => S(Status::Refused),
        "204" => S(Status::DeliveryFailed),
        "205" => S(Status::AwaitingCollection),
        "206" => S(Status::DeliveryFailed),
        "207" | "208" | "209" | "210" => S(Status::Exception),
        "401" => S(Status::Returned),
        _ => CodeMeaning::Unknown,
    }
}

/// Generic in-transit codes: the text says more ("codes lag text").
pub fn is_generic(code: &str) -> bool {
    matches!(code, "0" | "1002" | "1003")
}

/// The family of an unknown code: the leading digit of a three-digit code (`10xx`:
/// family 0), through the base table, never terminal.
pub fn family(code: &str) -> Option<Status> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = match code.len() {
        3 => code.get(..1),
        4 if code.starts_with("10") => Some("0"),
        _ => None,
    }?;
    match state_meaning(base) {
        CodeMeaning::Status(s) => non_terminal(Some(s)),
        _ => None,
    }
}

/// The status *name* in `data[].status` (resultv2 ≥ 1), used only when neither the
/// code nor the text decides.
fn status_name(name: &str) -> Option<Status> {
    Some(match name.trim() {
        "在途" | "干线" | "转递" => Status::InTransit,
        "揽收" | "已揽收" => Status::PickedUp,
        "已下单" | "待揽收" => Status::Pending,
        "疑难" | "清关异常" => Status::Exception,
        "签收" | "本人签收" | "代签" | "投柜或站签收" => Status::Delivered,
        "退签" | "已销单" => Status::Returned,
        "派件" => Status::OutForDelivery,
        "投柜或驿站" => Status::AwaitingCollection,
        "到达派件城市" => Status::ArrivedAtDestinationCity,
        "退回" => Status::Returning,
        "转投" => Status::Redirected,
        "清关" | "待清关" | "清关中" | "已清关" => Status::CustomsClearance,
        "拒签" | "拒收" => Status::Refused,
        _ => return None,
    })
}

fn code_status(code: Option<&str>, what: &str, warnings: &mut Vec<String>) -> CodeStatus {
    let Some(c) = code else {
        return CodeStatus::Absent;
    };
    match state_meaning(c) {
        CodeMeaning::Status(_) if c == "2" => CodeStatus::Problem,
        CodeMeaning::Status(s) if is_generic(c) => CodeStatus::Generic(s),
        CodeMeaning::Status(s) => CodeStatus::Specific(s),
        CodeMeaning::NoStatus => CodeStatus::NoStatus,
        CodeMeaning::Unknown => {
            add_warning(
                warnings,
                format!("kuaidi100 {what} {:?} is unknown", show(c)),
            );
            CodeStatus::Unknown(family(c))
        }
    }
}

/// `message` texts that say the call went well; not an error message.
const SUCCESS_TEXTS: &[&str] = &["ok", "成功", "查询成功", "提交成功", "success"];

/// Judges a Kuaidi100 reply (carriers.md §7): a successful reply that went through
/// an SDK or a model class can carry `result: false` and `returnCode: null` beside
/// `status` 200, `message` ok and its traces. One boolean alone never decides:
/// - an error code (`returnCode` other than 200) decides first: 500 is "no result
///   yet" (not found), the others failures — **decision:** even beside traces or
///   `result: true`, since traces the carrier itself disowns must not be merged
///   (the parcel keeps its last good state and is checked again);
/// - without traces, the communication `status` decides next: 201 is not found,
///   another non-200 code a failure;
/// - `result: false` (in no spelling true): an error message (neither ok nor
///   another success text) makes it a failure; else `status` 200 or traces make
///   it an answer; else the flag stands: a failure;
/// - otherwise an answer.
pub(crate) fn verdict(obj: &Map<String, Value>, prefix: &str) -> Result<Verdict, NormaliseError> {
    let path = |name: &str| format!("{prefix}{name}");
    let flags = flags(obj, "result", prefix)?;
    let return_code = code_value(field(obj, "returnCode"), &path("returnCode"))?;
    let message = text_value(field(obj, "message"))
        .map(|m| m.trim().to_string())
        .unwrap_or_default();
    let status = code_value(field(obj, "status"), &path("status"))?;
    let has_data = matches!(field(obj, "data"), Some(Value::Array(a)) if !a.is_empty());

    if let Some(code) = return_code.filter(|c| c != "200") {
        return Ok(if code == "500" {
            Verdict::NotFound { reason: message }
        } else {
            Verdict::Failure {
                code: Some(code),
                reason: message,
            }
        });
    }
    if !has_data {
        match status.as_deref() {
            Some("201") => return Ok(Verdict::NotFound { reason: message }),
            Some(s) if s != "200" && s.bytes().all(|b| b.is_ascii_digit()) => {
                return Ok(Verdict::Failure {
                    code: status,
                    reason: message,
                })
            }
            _ => {}
        }
    }
    if !flags.is_empty() && !flags.contains(&true) {
        let error_message = !message.is_empty()
            && !SUCCESS_TEXTS
                .iter()
                .any(|t| message.eq_ignore_ascii_case(t));
        let says_success = status.as_deref() == Some("200") || has_data;
        if error_message || !says_success {
            return Ok(Verdict::Failure {
                code: None,
                reason: message,
            });
        }
    }
    Ok(Verdict::Answer)
}

/// One query-shaped reply (a query, or a push's `lastResult`); `prefix` is
/// prepended to field paths in errors (`lastResult.`). Fields are read in either
/// spelling (`returnCode` or `ReturnCode`).
pub(crate) fn parse_query(
    obj: &Map<String, Value>,
    prefix: &str,
) -> Result<CarrierReply, NormaliseError> {
    let path = |name: &str| format!("{prefix}{name}");
    let mut warnings = Vec::new();

    let verdict = verdict(obj, prefix)?;
    let state = code_value(field(obj, "state"), &path("state"))?;
    let ischeck = code_value(field(obj, "ischeck"), &path("ischeck"))?;

    let carrier = opt_text(field(obj, "com")).and_then(|com| {
        let code = carriers::from_kuaidi100(&com)
            .map(str::to_string)
            .unwrap_or_else(|| com.to_ascii_uppercase());
        match CarrierCode::parse(&code) {
            Ok(c) => Some(c),
            Err(_) => {
                add_warning(
                    &mut warnings,
                    format!("kuaidi100 com {:?} is not a known carrier", show(&com)),
                );
                None
            }
        }
    });
    let mut reply = CarrierReply {
        carrier,
        tracking_number: opt_text(field(obj, "nu")),
        raw_state: raw_state(&[("state", &state), ("ischeck", &ischeck)]),
        ..CarrierReply::default()
    };

    match verdict {
        Verdict::Answer => {}
        Verdict::NotFound { .. } => {
            reply.status = Some(Status::Pending);
            reply.warnings = warnings;
            return Ok(reply);
        }
        Verdict::Failure { code, reason } => return Err(failure("kuaidi100", code, &reason)),
    }

    let data = opt_array(obj, "data", &path("data"))?;

    let top = match code_status(state.as_deref(), "state", &mut warnings) {
        CodeStatus::Specific(s) | CodeStatus::Generic(s) => Some(s),
        CodeStatus::Problem => Some(Status::Exception),
        CodeStatus::Unknown(family) => family,
        CodeStatus::Absent | CodeStatus::NoStatus => None,
    };

    let mut raw = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        let dp = path(&format!("data[{i}]"));
        let d = as_object(d, &dp)?;
        let at = match time_of(field(d, "ftime")) {
            Ok(t) => t,
            Err(ftime_problem) => match (time_of(field(d, "time")), ftime_problem) {
                (Ok(t), _) => t,
                // ftime present but bad: report it, the primary field.
                (Err(_), p @ TimeProblem::Bad(_)) => {
                    return Err(time_error(p, format!("{dp}.ftime")))
                }
                (Err(TimeProblem::Missing), TimeProblem::Missing) => {
                    return Err(time_error(TimeProblem::Missing, format!("{dp}.ftime")))
                }
                (Err(p), TimeProblem::Missing) => return Err(time_error(p, format!("{dp}.time"))),
            },
        };
        let code = code_value(field(d, "statusCode"), &format!("{dp}.statusCode"))?;
        raw.push(RawTrace {
            at,
            text: text_value(field(d, "context")).unwrap_or_default(),
            location: opt_text(field(d, "location")).or_else(|| opt_text(field(d, "areaName"))),
            code_status: code_status(code.as_deref(), "statusCode", &mut warnings),
            code,
            hint: text_value(field(d, "status")).and_then(|n| status_name(&n)),
            hub_scan: false,
        });
    }
    reply.events = classify_traces(raw, top, &mut warnings);
    reply.status = reply_status(&reply.events, top);
    reply.warnings = warnings;
    Ok(reply)
}

/// A push's `param`: `{status, billstatus, message, lastResult}`.
pub(crate) fn parse_push(v: &Value) -> Result<CarrierReply, NormaliseError> {
    let obj = as_object(v, "$")?;
    let last = match obj.get("lastResult") {
        None | Some(Value::Null) => {
            return Err(NormaliseError::MissingField {
                field: "lastResult".to_string(),
            })
        }
        Some(l) => as_object(l, "lastResult")?,
    };
    let mut reply = parse_query(last, "lastResult.")?;
    let push_status = opt_text(get(obj, "status"));
    if let Some(s) = push_status.filter(|s| s == "abort") {
        let message = text_value(get(obj, "message")).unwrap_or_default();
        add_warning(
            &mut reply.warnings,
            format!("kuaidi100 push status {:?}: {}", s, show(&message)),
        );
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::{parse_kuaidi100_push, parse_reply, parse_value, Format};
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;
    use Status::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn parse(v: Value) -> Result<CarrierReply, NormaliseError> {
        parse_value(&v, Some(Format::Kuaidi100))
    }

    fn one(code: Value, text: &str) -> (Status, Option<String>, Vec<String>) {
        let r = parse(json!({"status": "200", "state": "0", "data": [
            {"ftime": "2024-05-01 10:00:00", "context": text, "statusCode": code}]}))
        .unwrap();
        let e = &r.events[0];
        (e.status, e.hub.clone(), r.warnings.clone())
    }

    #[test]
    fn the_generic_problem_code_yields_to_a_text_naming_the_problem() {
        let cases = [
            (
                "派送失败，电话无人接听，快件滞留网点",
                Status::DeliveryFailed,
            ),
            ("收件人拒收", Status::Refused),
            ("快件已放入丰巢快递柜", Status::AwaitingCollection),
            ("快件滞留", Status::Exception),
            ("快件已到达【北京分拨中心】", Status::Exception),
            ("", Status::Exception),
        ];
        for (text, status) in cases {
            assert_eq!(one(json!("2"), text).0, status, "{text:?}");
        }
    }

    #[test]
    fn example_query_reply() {
        let body = r#"{"message":"ok","nu":"YT0000000000001","ischeck":"0","com":"yuantong","status":"200","condition":"00","state":"5",
 "data":[
  {"time":"2024-05-02 07:40:00","ftime":"2024-05-02 07:40:00","context":"【杭州市】快件派送中","location":"","areaCode":"CN330100000000","areaName":"浙江,杭州市","status":"派件","statusCode":"5"},
  {"time":"2024-05-01 09:12:00","ftime":"2024-05-01 09:12:00","context":"【杭州市】快件已揽收","location":"","areaCode":"CN330100000000","areaName":"浙江,杭州市","status":"揽收","statusCode":"1"}]}"#;
        let r = parse_reply(body, None).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert_eq!(r.raw_state.as_deref(), Some("state=5;ischeck=0"));
        assert_eq!(r.status, Some(OutForDelivery));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let got: Vec<_> = r
            .events
            .iter()
            .map(|e| {
                (
                    e.at,
                    e.status,
                    e.code.as_deref(),
                    e.location.as_deref(),
                    e.text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    utc(2024, 5, 1, 23, 40, 0),
                    OutForDelivery,
                    Some("5"),
                    Some("浙江,杭州市"),
                    "【杭州市】快件派送中"
                ),
                (
                    utc(2024, 5, 1, 1, 12, 0),
                    PickedUp,
                    Some("1"),
                    Some("浙江,杭州市"),
                    "【杭州市】快件已揽收"
                ),
            ]
        );
    }

    #[test]
    fn example_push() {
        let param = r#"{"status":"polling","message":"","lastResult":{"message":"ok","state":"0","status":"200","condition":"F00","ischeck":"0","com":"yuantong","nu":"YT0000000000001","data":[]}}"#;
        let v: Value = serde_json::from_str(param).unwrap();
        let r = parse_kuaidi100_push(&v).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert!(r.knows_nothing());
        // No events: the top-level state.
        assert_eq!(r.status, Some(InTransit));
        assert_eq!(r.raw_state.as_deref(), Some("state=0;ischeck=0"));
        assert!(r.warnings.is_empty());
        assert_eq!(parse_reply(param, None), Ok(r));
    }

    #[test]
    fn push_with_events_abort_and_errors() {
        let v = json!({"status": "abort", "billstatus": "check", "message": "3天查询无记录",
            "lastResult": {"message": "ok", "state": "3", "status": "200", "ischeck": "1",
                "com": "jd", "nu": "JD0001234567",
                "data": [{"ftime": "2024-05-03 12:00:00", "context": "已签收，签收人：本人", "statusCode": "301"}]}});
        let r = parse_kuaidi100_push(&v).unwrap();
        assert_eq!(r.status, Some(Delivered));
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("JD"));
        assert_eq!(
            r.warnings,
            vec![r#"kuaidi100 push status "abort": 3天查询无记录"#.to_string()]
        );

        assert_eq!(
            parse_kuaidi100_push(&json!({"status": "polling"})).unwrap_err(),
            NormaliseError::MissingField {
                field: "lastResult".into()
            }
        );
        assert!(matches!(
            parse_kuaidi100_push(&json!({"lastResult": "x"})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "lastResult"
        ));
        assert_eq!(
            parse_kuaidi100_push(&json!({"lastResult": {"data": [{"context": "x"}]}})).unwrap_err(),
            NormaliseError::MissingField {
                field: "lastResult.data[0].ftime".into()
            }
        );
    }

    #[test]
    fn state_table() {
        let rows: &[(&str, Option<Status>)] = &[
            ("0", Some(InTransit)),
            ("1", Some(PickedUp)),
            ("2", Some(Exception)),
            ("3", Some(Delivered)),
            ("4", Some(Returned)),
            ("5", Some(OutForDelivery)),
            ("6", Some(Returning)),
            ("7", Some(Redirected)),
            ("8", Some(CustomsClearance)),
            ("10", Some(CustomsClearance)),
            ("11", Some(CustomsClearance)),
            ("12", Some(CustomsClearance)),
            ("13", Some(Exception)),
            ("14", Some(Refused)),
            ("101", Some(Pending)),
            ("102", Some(Pending)),
            ("103", Some(PickedUp)),
            ("1001", Some(ArrivedAtDestinationCity)),
            ("1002", Some(InTransit)),
            ("1003", Some(InTransit)),
            ("501", Some(AwaitingCollection)),
            ("301", Some(Delivered)),
            ("302", Some(Delivered)),
            ("303", Some(Delivered)),
            ("304", Some(Delivered)),
            ("201", None),
            ("202", None),
            ("203", Some(Refused)),
            ("204", Some(DeliveryFailed)),
            ("205", Some(AwaitingCollection)),
            ("206", Some(DeliveryFailed)),
            ("207", Some(Exception)),
            ("208", Some(Exception)),
            ("209", Some(Exception)),
            ("210", Some(Exception)),
            ("401", Some(Returned)),
        ];
        for (code, want) in rows {
            match want {
                Some(s) => assert_eq!(state_meaning(code), CodeMeaning::Status(*s), "{code}"),
                None => assert_eq!(state_meaning(code), CodeMeaning::NoStatus, "{code}"),
            }
            // As a per-event statusCode with an unmatched text.
            let (status, hub, warnings) = one(json!(code), "");
            assert_eq!(hub, None);
            match want {
                Some(s) => {
                    assert_eq!(status, *s, "{code}");
                    assert!(warnings.is_empty(), "{code}: {warnings:?}");
                }
                None => {
                    // Newest event without status: the top-level state 0.
                    assert_eq!(status, InTransit, "{code}");
                    assert_eq!(warnings, vec!["unclassified trace: ".to_string()]);
                }
            }
            // As the top-level state of a reply without events, also as a number.
            let n: u64 = code.parse().unwrap();
            for state in [json!(code), json!(n)] {
                let r = parse(json!({"status": "200", "state": state, "data": []})).unwrap();
                assert_eq!(r.status, *want, "state {code}");
                assert_eq!(r.raw_state, Some(format!("state={code}")));
            }
        }
        for code in ["9", "15", "999", "2000", "x"] {
            assert_eq!(state_meaning(code), CodeMeaning::Unknown, "{code}");
        }
    }

    #[test]
    fn codes_lag_text() {
        // Top-level state 0 while the newest trace says the courier is delivering.
        let r = parse(json!({"message": "ok", "nu": "YT1234567", "com": "yuantong", "status": "200",
            "state": "0", "ischeck": "0", "data": [
                {"ftime": "2024-05-02 07:40:00", "context": "【上海市】派件员 张三（电话13812345678）正在为您派件", "statusCode": "0"},
                {"ftime": "2024-05-01 20:00:00", "context": "快件已到达【上海分拨中心】", "statusCode": "1002"},
                {"ftime": "2024-05-01 09:12:00", "context": "已揽收", "statusCode": "1"}]}))
        .unwrap();
        assert_eq!(r.status, Some(OutForDelivery));
        assert_eq!(r.events[0].status, OutForDelivery);
        assert_eq!(r.events[1].status, InTransit);
        assert_eq!(r.events[1].hub.as_deref(), Some("上海分拨中心"));
        // Generic codes with a transport text stay InTransit without hub.
        assert_eq!(
            one(
                json!("1003"),
                "快件离开【上海分拨中心】已发往【上海浦东张江营业部】"
            ),
            (InTransit, None, vec![])
        );
        // A text without a code; specific codes win over the text.
        assert_eq!(
            one(json!(null), "快件已被【丰巢智能柜】代收").0,
            AwaitingCollection
        );
        assert_eq!(one(json!("14"), "派件员正在派件").0, Refused);
        // Judgement codes: the text decides.
        assert_eq!(
            one(json!("201"), "快件派送失败，原因：电话无人接听").0,
            DeliveryFailed
        );
    }

    #[test]
    fn top_level_304_and_statuscode_501() {
        let r = parse(json!({"message": "ok", "nu": "JD0001234567", "com": "jd", "status": "200",
            "state": "304", "ischeck": "1", "data": [
                {"ftime": "2024-05-03 12:00:00", "time": "2024-05-03 12:00:00",
                 "context": "您的快件已由【菜鸟驿站幸福里店】代收，请及时取件", "statusCode": "501"},
                {"ftime": "2024-05-03 18:00:00", "context": "您的快件已取出", "statusCode": "304"}]}))
        .unwrap();
        assert_eq!(r.events[0].status, AwaitingCollection);
        assert_eq!(r.events[1].status, Delivered);
        assert_eq!(r.status, Some(Delivered));
        assert_eq!(r.raw_state.as_deref(), Some("state=304;ischeck=1"));
        // Only the locker scan: awaiting collection even though the top says 304.
        let r = parse(json!({"status": "200", "state": 304, "data": [
            {"ftime": "2024-05-03 12:00:00", "context": "快件已放入【丰巢智能柜3号柜】，请凭取件码及时取件", "statusCode": 501}]}))
        .unwrap();
        assert_eq!(r.status, Some(AwaitingCollection));
        // No events at all: the top-level 304.
        let r = parse(json!({"status": "200", "state": "304", "data": []})).unwrap();
        assert_eq!(r.status, Some(Delivered));
    }

    #[test]
    fn ftime_and_time() {
        let at = |d: Value| parse(json!({"data": [d]})).map(|r| r.events[0].at);
        let want = utc(2024, 5, 1, 1, 12, 0);
        assert_eq!(
            at(json!({"ftime": "2024-05-01 09:12:00", "time": "2024-05-01 09:13"})),
            Ok(want)
        );
        assert_eq!(at(json!({"ftime": "", "time": "2024/5/1 9:12"})), Ok(want));
        assert_eq!(
            at(json!({"ftime": null, "time": "2024-05-01 09:12:00"})),
            Ok(want)
        );
        assert_eq!(
            at(json!({"time": "２０２４－０５－０１　０９：１２"})),
            Ok(want)
        );
        assert_eq!(
            at(json!({"ftime": "garbage", "time": "2024-05-01 09:12:00"})),
            Ok(want)
        );
        assert_eq!(
            at(json!({"ftime": "garbage", "time": "2024-05-01 99:00"})),
            Err(NormaliseError::BadTime {
                field: "data[0].ftime".into(),
                value: "garbage".into()
            })
        );
        assert_eq!(
            at(json!({"ftime": "garbage"})),
            Err(NormaliseError::BadTime {
                field: "data[0].ftime".into(),
                value: "garbage".into()
            })
        );
        assert_eq!(
            at(json!({"time": "2024-02-30 10:00:00"})),
            Err(NormaliseError::BadTime {
                field: "data[0].time".into(),
                value: "2024-02-30 10:00:00".into()
            })
        );
        assert_eq!(
            at(json!({"context": "已揽收"})),
            Err(NormaliseError::MissingField {
                field: "data[0].ftime".into()
            })
        );
    }

    #[test]
    fn null_and_odd_fields() {
        let r = parse(json!({"message": "ok", "nu": "", "com": "", "status": 200, "state": 0,
            "ischeck": 0, "isLoop": false, "routeInfo": null, "data": [
                {"ftime": "2024-05-01 09:12:00", "context": null, "location": null,
                 "areaCode": null, "areaName": null, "areaCenter": null, "status": null, "statusCode": null}]}))
        .unwrap();
        assert_eq!((r.carrier.clone(), r.tracking_number.clone()), (None, None));
        assert_eq!(r.raw_state.as_deref(), Some("state=0;ischeck=0"));
        let e = &r.events[0];
        assert_eq!(
            (e.text.as_str(), e.location.clone(), e.code.clone()),
            ("", None, None)
        );
        // Newest and unclassified: the top-level state.
        assert_eq!(e.status, InTransit);
        assert_eq!(r.warnings, vec!["unclassified trace: ".to_string()]);
        // The status name is a last resort.
        let r = parse(json!({"state": "0", "data": [
            {"ftime": "2024-05-01 09:12:00", "context": "嗯", "status": "疑难"}]}))
        .unwrap();
        assert_eq!(r.events[0].status, Exception);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn carriers_from_com() {
        let c = |com: &str| parse(json!({"com": com})).unwrap();
        assert_eq!(
            c("zhongtong").carrier.map(|c| c.as_str().to_string()),
            Some("ZTO".into())
        );
        assert_eq!(
            c("DebangKuaidi").carrier.map(|c| c.as_str().to_string()),
            Some("DBL".into())
        );
        // Unknown but well-formed: upper-cased.
        let r = c("sf");
        assert_eq!(r.carrier.map(|c| c.as_str().to_string()), Some("SF".into()));
        assert!(r.warnings.is_empty());
        // Not a carrier code at all: none, with a warning.
        let r = c("zhong-tong");
        assert_eq!(r.carrier, None);
        assert_eq!(
            r.warnings,
            vec![r#"kuaidi100 com "zhong-tong" is not a known carrier"#.to_string()]
        );
    }

    #[test]
    fn unknown_codes() {
        let (s, _, w) = one(json!("9999"), "嗯");
        assert_eq!(s, InTransit);
        assert_eq!(
            w,
            vec![
                r#"kuaidi100 statusCode "9999" is unknown"#.to_string(),
                "unclassified trace: 嗯".to_string()
            ]
        );
        // Families: 3xx would be Delivered, so InTransit; 10xx is family 0.
        assert_eq!(one(json!("399"), "").0, InTransit);
        assert_eq!(one(json!("499"), "").0, InTransit);
        assert_eq!(one(json!("599"), "").0, OutForDelivery);
        assert_eq!(one(json!("699"), "").0, Returning);
        assert_eq!(one(json!("1099"), "").0, InTransit);
        assert_eq!(one(json!("299"), "").0, Exception);
        assert_eq!(one(json!("599"), "已签收").0, Delivered);
        let r = parse(json!({"state": "399", "data": []})).unwrap();
        assert_eq!(r.status, Some(InTransit));
        assert_eq!(
            r.warnings,
            vec![r#"kuaidi100 state "399" is unknown"#.to_string()]
        );
    }

    #[test]
    fn not_found_replies() {
        let r = parse(
            json!({"message": "单号不存在或者已经过期", "nu": "", "com": "", "status": "201",
            "state": "0", "ischeck": "0", "data": []}),
        )
        .unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
        assert_eq!((r.carrier, r.tracking_number), (None, None));
        let r = parse_reply(
            r#"{"result":false,"returnCode":"500","message":"查询无结果，请隔段时间再查"}"#,
            None,
        )
        .unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
        let r = parse(json!({"result": "false", "returnCode": 500, "message": "查询无结果", "nu": "YT1234567"})).unwrap();
        assert_eq!(r.tracking_number.as_deref(), Some("YT1234567"));
    }

    #[test]
    fn failures() {
        for (code, message) in [
            ("400", "找不到对应公司"),
            ("408", "快递公司参数异常：验证码错误"),
            ("501", "服务器错误"),
            ("502", "服务器繁忙"),
            ("503", "验证签名失败"),
            ("601", "key已过期"),
        ] {
            let body = format!(r#"{{"result":false,"returnCode":"{code}","message":"{message}"}}"#);
            let e = parse_reply(&body, None).unwrap_err();
            assert_eq!(
                e,
                NormaliseError::CarrierFailure {
                    provider: "kuaidi100",
                    code: Some(code.into()),
                    reason: message.into()
                }
            );
            assert_eq!(
                e.to_string(),
                format!("kuaidi100 reports a failure (code {code}): {message}")
            );
        }
        // Without a returnCode.
        assert_eq!(
            parse(json!({"result": false, "message": "失败"})).unwrap_err(),
            NormaliseError::CarrierFailure {
                provider: "kuaidi100",
                code: None,
                reason: "失败".into()
            }
        );
        // A non-200 communication status without data.
        assert_eq!(
            parse(json!({"status": "400", "message": "bad", "data": []})).unwrap_err(),
            NormaliseError::CarrierFailure {
                provider: "kuaidi100",
                code: Some("400".into()),
                reason: "bad".into()
            }
        );
        // A subscription-style success without data is fine.
        let r = parse(json!({"result": true, "returnCode": "200", "message": "提交成功"})).unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, None);
    }

    #[test]
    fn input_errors() {
        assert!(matches!(
            parse(json!({"data": {"a": 1}})).unwrap_err(),
            NormaliseError::BadValue { ref field, ref value, .. } if field == "data" && value == "<object with 1 keys>"
        ));
        assert!(matches!(
            parse(json!({"data": ["x"]})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "data[0]"
        ));
        assert!(matches!(
            parse(json!({"data": [{"ftime": "2024-05-01 10:00:00", "statusCode": {}}]})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "data[0].statusCode"
        ));
        assert!(matches!(
            parse(json!({"result": "perhaps"})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "result"
        ));
    }

    #[test]
    fn out_of_order_traces() {
        let r = parse(json!({"state": "0", "data": [
            {"ftime": "2024-05-01 20:00:00", "context": "快件已到达【杭州转运中心】", "statusCode": "0"},
            {"ftime": "2024-05-03 12:00:00", "context": "已签收，签收人：本人", "statusCode": "301"},
            {"ftime": "2024-05-01 09:12:00", "context": "已揽收", "statusCode": "1"},
            {"ftime": "2024-05-02 08:00:00", "context": "快件离开【杭州转运中心】已发往【上海分拨中心】", "statusCode": "0"}]}))
        .unwrap();
        assert_eq!(r.status, Some(Delivered));
        let statuses: Vec<_> = r.events.iter().map(|e| e.status).collect();
        assert_eq!(statuses, vec![InTransit, Delivered, PickedUp, InTransit]);
        assert_eq!(r.events[0].hub.as_deref(), Some("杭州转运中心"));
        assert_eq!(r.events[3].hub, None);
    }

    // -- carriers.md §7: success flags that lie ------------------------------------
    //
    // A successful reply that went through an SDK or an app's model class carries
    // the error class's fields too: `result: false` and `returnCode: null` beside
    // `status` 200, `message` ok and the traces. Success is judged by the status
    // code and the traces, an error by an error code or message.

    fn lying(data: Value) -> Value {
        json!({"result": false, "returnCode": null, "message": "ok", "nu": "YT0000000000001",
            "ischeck": "0", "condition": "00", "com": "yuantong", "status": "200", "state": "5",
            "data": data})
    }

    fn two_events() -> Value {
        json!([
            {"time": "2024-05-02 07:40:00", "ftime": "2024-05-02 07:40:00", "context": "【杭州市】快件派送中", "statusCode": "5"},
            {"time": "2024-05-01 09:12:00", "ftime": "2024-05-01 09:12:00", "context": "【杭州市】快件已揽收", "statusCode": "1"}])
    }

    #[test]
    fn section7_result_false_beside_status_200_and_traces_is_a_good_reply() {
        let r = parse(lying(two_events())).unwrap();
        assert_eq!(r.status, Some(OutForDelivery));
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        // Detected from the body too, `result` as a string.
        let mut v = lying(two_events());
        v["result"] = json!("false");
        let r = parse_reply(&v.to_string(), None).unwrap();
        assert_eq!(r.status, Some(OutForDelivery));
        // Status 200 and message ok but no traces yet: a good reply without events
        // (the state code decides), not a failure.
        let r = parse(lying(json!([]))).unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(OutForDelivery));
        // Traces but no status code at all, no error code or message: good.
        let r = parse(json!({"result": false, "returnCode": null, "message": "ok",
            "data": two_events()}))
        .unwrap();
        assert_eq!(r.events.len(), 2);
    }

    #[test]
    fn section7_lying_push() {
        let v = json!({"status": "polling", "billstatus": "change", "message": "",
            "lastResult": lying(two_events())});
        let r = parse_kuaidi100_push(&v).unwrap();
        assert_eq!(r.status, Some(OutForDelivery));
        assert_eq!(r.events.len(), 2);
    }

    #[test]
    fn section7_not_found_with_result_false_stays_not_found() {
        let r = parse(json!({"result": false, "returnCode": null,
            "message": "单号不存在或者已经过期", "nu": "", "com": "", "status": "201",
            "state": "0", "ischeck": "0", "data": []}))
        .unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
    }

    #[test]
    fn section7_real_failures_stay_failures() {
        // Error codes decide, with or without the success-looking fields a model
        // class adds (`status`, `data`: null or empty).
        for (code, message) in [
            ("400", "找不到对应公司"),
            ("601", "没有可用单量"),
            ("503", "验证签名失败"),
        ] {
            for extra in [
                json!({}),
                json!({"status": null, "data": null, "state": null}),
                json!({"status": "200", "data": []}),
            ] {
                let mut v = json!({"result": false, "returnCode": code, "message": message});
                for (k, x) in extra.as_object().unwrap() {
                    v[k] = x.clone();
                }
                assert_eq!(
                    parse(v.clone()).unwrap_err(),
                    NormaliseError::CarrierFailure {
                        provider: "kuaidi100",
                        code: Some(code.into()),
                        reason: message.into()
                    },
                    "{v}"
                );
            }
        }
        // 500 stays "no result yet".
        let r = parse(json!({"result": false, "returnCode": "500",
            "message": "查询无结果，请隔段时间再查", "status": null, "data": null}))
        .unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
        // Decision: an error code beside traces is a failure; traces the carrier
        // itself disowns are never merged.
        let mut v = lying(two_events());
        v["returnCode"] = json!("601");
        v["message"] = json!("key已过期");
        assert!(matches!(
            parse(v).unwrap_err(),
            NormaliseError::CarrierFailure { ref code, .. } if code.as_deref() == Some("601")
        ));
        // An error message with `result: false` and no error code: a failure, even
        // beside a status 200 a model class filled in.
        let mut v = lying(two_events());
        v["message"] = json!("提交的数据不完整，或者贵公司没授权");
        assert!(matches!(
            parse(v).unwrap_err(),
            NormaliseError::CarrierFailure { code: None, .. }
        ));
        // `result: false` alone with "ok": nothing says success (no status code, no
        // traces), so the flag stands.
        assert!(matches!(
            parse(json!({"result": false, "returnCode": null, "message": "ok"})).unwrap_err(),
            NormaliseError::CarrierFailure { .. }
        ));
    }
}
