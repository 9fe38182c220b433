//! Kdniao (快递鸟) replies: instant query 1002/8001 and push 101/102 `RequestData`.
//!
//! Fields are PascalCase: `Success`, `Reason`, `ShipperCode`, `LogisticCode`, `State`
//! (coarse), `StateEx` (fine, 8001/8008), `Traces[]` of `AcceptTime` (China local
//! time), `AcceptStation` (text), `Location`, `Action` (fine code), `Remark`.

use serde_json::{Map, Value};

use super::{
    add_warning, as_object, carriers, classify_traces, code_value, describe, failure, field, flags,
    non_terminal, opt_array, opt_text, raw_state, reply_status, show, spellings, text_value,
    time_error, time_of, CodeMeaning, CodeStatus, NormaliseError, RawTrace, Verdict,
};
use crate::domain::{CarrierCode, Status};
use crate::ports::CarrierReply;

/// `Reason` texts of a `Success:false` reply that mean "no trace yet", not failure.
const NOT_FOUND: &[&str] = &["暂无轨迹", "无轨迹", "没有物流轨迹", "查询无结果"];

/// The coarse top-level `State`.
pub fn state_status(code: &str) -> Option<Status> {
    Some(match code {
        "0" => Status::Pending,
        "1" => Status::PickedUp,
        "2" => Status::InTransit,
        "3" => Status::Delivered,
        "4" => Status::Exception,
        "5" => Status::Redirected,
        "6" => Status::CustomsClearance,
        _ => return None,
    })
}

/// The fine code space shared by the top-level `StateEx` and per-trace `Action`.
pub fn action_meaning(code: &str) -> CodeMeaning {
    use CodeMeaning::{NoStatus, Status as S};
    match code {
        "0" => S(Status::Pending),
        "1" => S(Status::PickedUp),
        "10" => S(Status::Pending),
        "2" => S(Status::InTransit),
        "201" => S(Status::ArrivedAtDestinationCity),
        "202" => S(Status::OutForDelivery),
        // Arrival at a hub: the event also gets a hub (see `is_hub_scan`).
        "204" => S(Status::InTransit),
        "205" => S(Status::ArrivedAtDestinationCity),
        "206" => S(Status::InTransit),
        "211" => S(Status::AwaitingCollection),
        "3" | "301" | "302" | "304" | "311" => S(Status::Delivered),
        "4" => S(Status::Exception),
        // Kdniao's own time judgements (发货无信息, 超时未签收, 超时未更新): our rules
        // decide time-based alerts, so the text classifies the event.
        "401" | "402" | "403" => NoStatus,
        "404" => S(Status::Refused),
        "405" => S(Status::DeliveryFailed),
        "406" => S(Status::Returned),
        "407" => S(Status::Returning),
        "412" => S(Status::AwaitingCollection),
        "413" | "414" | "415" => S(Status::Exception),
        "416" => S(Status::DeliveryFailed),
        // 配送延迟 (a delay judgement) and 快件取出 (taken out: by whom?).
        "417" | "418" => NoStatus,
        "419" => S(Status::OutForDelivery),
        "420" | "421" | "422" | "423" => S(Status::Exception),
        "5" => S(Status::Redirected),
        "6" | "601" | "602" | "603" => S(Status::CustomsClearance),
        "604" => S(Status::Exception),
        _ => CodeMeaning::Unknown,
    }
}

/// Generic in-transit codes: the text says more.
pub fn is_generic(code: &str) -> bool {
    matches!(code, "2" | "206")
}

/// `Action 204`: an arrival at a hub.
pub fn is_hub_scan(code: &str) -> bool {
    code == "204"
}

/// The family of an unknown fine code: the leading digit of a three-digit code,
/// through the coarse table, never terminal.
pub fn family(code: &str) -> Option<Status> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
        non_terminal(code.get(..1).and_then(state_status))
    } else {
        None
    }
}

fn top_status(
    state: Option<&str>,
    state_ex: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<Status> {
    let coarse = state.and_then(|c| {
        state_status(c).or_else(|| {
            add_warning(warnings, format!("kdniao State {:?} is unknown", show(c)));
            family(c)
        })
    });
    let fine = state_ex.and_then(|c| match action_meaning(c) {
        CodeMeaning::Status(s) => Some(s),
        CodeMeaning::NoStatus => None,
        CodeMeaning::Unknown => {
            add_warning(warnings, format!("kdniao StateEx {:?} is unknown", show(c)));
            family(c)
        }
    });
    fine.or(coarse)
}

/// `Reason` texts that say the call went well; not an error message.
const SUCCESS_TEXTS: &[&str] = &["成功", "查询成功", "ok", "success"];

/// Judges a Kdniao reply (carriers.md §7): a reply that went through an SDK or a
/// model class can carry `Success` *and* `success`, disagreeing, or a `false`
/// that is only a default. One boolean alone never decides:
/// - no flag, or every flag true: an answer (as Kdniao means it);
/// - some flag false: an error code (`Code`/`ResultCode` other than 100) or an
///   error message (a `Reason` that is neither a success nor a "no trace yet"
///   text) makes it a failure — **decision:** even beside traces, since traces the
///   carrier itself disowns must not be merged (the parcel keeps its last good
///   state and is checked again); else traces, a `true` in the other spelling,
///   or a state code other than `0` make it an answer; else a "no trace yet"
///   `Reason` makes it not found; else the flag stands: a failure.
pub(crate) fn verdict(obj: &Map<String, Value>, prefix: &str) -> Result<Verdict, NormaliseError> {
    let flags = flags(obj, "Success", prefix)?;
    if flags.iter().all(|&b| b) {
        return Ok(Verdict::Answer);
    }
    let reason = text_value(field(obj, "Reason"))
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    let code = code_value(field(obj, "Code"), &format!("{prefix}Code"))
        .ok()
        .flatten()
        .or_else(|| {
            code_value(field(obj, "ResultCode"), &format!("{prefix}ResultCode"))
                .ok()
                .flatten()
        });
    let not_found = NOT_FOUND.iter().any(|p| reason.contains(p));
    let error_message = !reason.is_empty()
        && !not_found
        && !SUCCESS_TEXTS.iter().any(|t| reason.eq_ignore_ascii_case(t));
    let error_code = code.as_deref().is_some_and(|c| c != "100");
    if error_message || error_code {
        return Ok(Verdict::Failure { code, reason });
    }
    let has_traces = matches!(field(obj, "Traces"), Some(Value::Array(a)) if !a.is_empty());
    let state = code_value(field(obj, "State"), &format!("{prefix}State"))?;
    if has_traces || flags.contains(&true) || state.as_deref().is_some_and(|s| s != "0") {
        return Ok(Verdict::Answer);
    }
    if not_found {
        return Ok(Verdict::NotFound { reason });
    }
    Ok(Verdict::Failure { code, reason })
}

/// The carrier a reply names in `ShipperCode` (either spelling): a code, or a
/// name the carrier table knows (圆通速递 → YTO). Of two spellings, the first
/// the table knows wins, else the first well-formed code.
fn shipper(obj: &Map<String, Value>, warnings: &mut Vec<String>) -> Option<CarrierCode> {
    let names: Vec<String> = spellings(obj, "ShipperCode")
        .filter_map(|(_, v)| opt_text(Some(v)))
        .collect();
    let known = names
        .iter()
        .find_map(|n| carriers::canonical(n))
        .and_then(|c| CarrierCode::parse(c).ok());
    if known.is_some() {
        return known;
    }
    if let Some(code) = names.iter().find_map(|n| CarrierCode::parse(n).ok()) {
        return Some(code);
    }
    if let Some(n) = names.first() {
        add_warning(
            warnings,
            format!("kdniao ShipperCode {:?} is not a carrier code", show(n)),
        );
    }
    None
}

/// One query-shaped reply (an instant query, or one element of a push's `Data`);
/// `prefix` is prepended to field paths in errors (`Data[0].`). Every field is
/// read in either spelling (`ShipperCode` or `shipperCode`).
pub(crate) fn parse_query(
    obj: &Map<String, Value>,
    prefix: &str,
) -> Result<CarrierReply, NormaliseError> {
    let path = |name: &str| format!("{prefix}{name}");
    let mut warnings = Vec::new();

    let verdict = verdict(obj, prefix)?;
    let state = code_value(field(obj, "State"), &path("State"))?;
    let state_ex = code_value(field(obj, "StateEx"), &path("StateEx"))?;

    let carrier = shipper(obj, &mut warnings);
    let mut reply = CarrierReply {
        carrier,
        tracking_number: opt_text(field(obj, "LogisticCode")),
        raw_state: raw_state(&[("State", &state), ("StateEx", &state_ex)]),
        ..CarrierReply::default()
    };

    match verdict {
        Verdict::Answer => {}
        Verdict::NotFound { .. } => {
            reply.status = Some(Status::Pending);
            reply.warnings = warnings;
            return Ok(reply);
        }
        Verdict::Failure { code, reason } => return Err(failure("kdniao", code, &reason)),
    }

    let top = top_status(state.as_deref(), state_ex.as_deref(), &mut warnings);
    let traces = opt_array(obj, "Traces", &path("Traces"))?;
    let mut raw = Vec::with_capacity(traces.len());
    for (i, t) in traces.iter().enumerate() {
        let tp = path(&format!("Traces[{i}]"));
        let t = as_object(t, &tp)?;
        let at = time_of(field(t, "AcceptTime"))
            .map_err(|p| time_error(p, format!("{tp}.AcceptTime")))?;
        let code = code_value(field(t, "Action"), &format!("{tp}.Action"))?;
        let code_status = match code.as_deref() {
            None => CodeStatus::Absent,
            Some(c) => match action_meaning(c) {
                CodeMeaning::Status(_) if c == "4" => CodeStatus::Problem,
                CodeMeaning::Status(s) if is_generic(c) => CodeStatus::Generic(s),
                CodeMeaning::Status(s) => CodeStatus::Specific(s),
                CodeMeaning::NoStatus => CodeStatus::NoStatus,
                CodeMeaning::Unknown => {
                    add_warning(
                        &mut warnings,
                        format!("kdniao Action {:?} is unknown", show(c)),
                    );
                    CodeStatus::Unknown(family(c))
                }
            },
        };
        raw.push(RawTrace {
            at,
            text: text_value(field(t, "AcceptStation")).unwrap_or_default(),
            location: opt_text(field(t, "Location")),
            hub_scan: code.as_deref().is_some_and(is_hub_scan),
            code,
            code_status,
            hint: None,
        });
    }
    reply.events = classify_traces(raw, top, &mut warnings);
    reply.status = reply_status(&reply.events, top);
    reply.warnings = warnings;
    Ok(reply)
}

/// A push's `RequestData`: `{EBusinessID, PushTime, Count, Data: [...]}`.
pub(crate) fn parse_push(v: &Value) -> Result<Vec<CarrierReply>, NormaliseError> {
    let obj = as_object(v, "$")?;
    let data = match field(obj, "Data") {
        None => {
            return Err(NormaliseError::MissingField {
                field: "Data".to_string(),
            })
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(NormaliseError::BadValue {
                field: "Data".to_string(),
                value: describe(other),
                reason: "expected an array".to_string(),
            })
        }
    };
    data.iter()
        .enumerate()
        .map(|(i, d)| {
            let p = format!("Data[{i}]");
            parse_query(as_object(d, &p)?, &format!("{p}."))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::{parse_kdniao_push, parse_reply, parse_value, Format};
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;
    use Status::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn parse(v: Value) -> Result<CarrierReply, NormaliseError> {
        parse_value(&v, Some(Format::Kdniao))
    }

    /// One trace with the given code and text; returns (status, hub, warnings).
    fn one(action: Value, text: &str) -> (Status, Option<String>, Vec<String>) {
        let r = parse(json!({"Success": true, "State": "2", "Traces": [
            {"AcceptTime": "2024-05-01 10:00:00", "AcceptStation": text, "Action": action}]}))
        .unwrap();
        let e = &r.events[0];
        (e.status, e.hub.clone(), r.warnings.clone())
    }

    #[test]
    fn example_8001_reply() {
        let body = r#"{"EBusinessID":"1000000","OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001",
 "Success":true,"Reason":null,"State":"2","StateEx":"202","Location":"杭州市",
 "Traces":[
  {"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收","Location":"杭州市","Action":"1","Remark":""},
  {"AcceptTime":"2024-05-02 07:40:00","AcceptStation":"【杭州市】快件派送中","Location":"杭州市","Action":"202","Remark":""}]}"#;
        let r = parse_reply(body, None).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert_eq!(r.raw_state.as_deref(), Some("State=2;StateEx=202"));
        assert_eq!(r.status, Some(OutForDelivery));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.events.len(), 2);
        let (a, b) = (&r.events[0], &r.events[1]);
        assert_eq!(a.at, utc(2024, 5, 1, 1, 12, 0));
        assert_eq!(a.text, "【杭州市】快件已揽收");
        assert_eq!(a.location.as_deref(), Some("杭州市"));
        assert_eq!(a.code.as_deref(), Some("1"));
        assert_eq!(a.status, PickedUp);
        assert_eq!(a.hub, None);
        assert_eq!(b.at, utc(2024, 5, 1, 23, 40, 0));
        assert_eq!(b.code.as_deref(), Some("202"));
        assert_eq!(b.status, OutForDelivery);
    }

    #[test]
    fn state_table() {
        let rows = [
            ("0", Pending),
            ("1", PickedUp),
            ("2", InTransit),
            ("3", Delivered),
            ("4", Exception),
            ("5", Redirected),
            ("6", CustomsClearance),
        ];
        for (code, status) in rows {
            assert_eq!(state_status(code), Some(status), "{code}");
            // And as the reply status of a reply without traces.
            let r = parse(json!({"Success": true, "State": code})).unwrap();
            assert_eq!(r.status, Some(status), "{code}");
            assert_eq!(r.raw_state, Some(format!("State={code}")));
        }
        assert_eq!(state_status("7"), None);
        assert_eq!(state_status(""), None);
    }

    #[test]
    fn action_table() {
        let rows: &[(&str, Option<Status>)] = &[
            ("0", Some(Pending)),
            ("1", Some(PickedUp)),
            ("10", Some(Pending)),
            ("2", Some(InTransit)),
            ("201", Some(ArrivedAtDestinationCity)),
            ("202", Some(OutForDelivery)),
            ("204", Some(InTransit)),
            ("205", Some(ArrivedAtDestinationCity)),
            ("206", Some(InTransit)),
            ("211", Some(AwaitingCollection)),
            ("3", Some(Delivered)),
            ("301", Some(Delivered)),
            ("302", Some(Delivered)),
            ("304", Some(Delivered)),
            ("311", Some(Delivered)),
            ("4", Some(Exception)),
            ("401", None),
            ("402", None),
            ("403", None),
            ("404", Some(Refused)),
            ("405", Some(DeliveryFailed)),
            ("406", Some(Returned)),
            ("407", Some(Returning)),
            ("412", Some(AwaitingCollection)),
            ("413", Some(Exception)),
            ("414", Some(Exception)),
            ("415", Some(Exception)),
            ("416", Some(DeliveryFailed)),
            ("417", None),
            ("418", None),
            ("419", Some(OutForDelivery)),
            ("420", Some(Exception)),
            ("421", Some(Exception)),
            ("422", Some(Exception)),
            ("423", Some(Exception)),
            ("5", Some(Redirected)),
            ("6", Some(CustomsClearance)),
            ("601", Some(CustomsClearance)),
            ("602", Some(CustomsClearance)),
            ("603", Some(CustomsClearance)),
            ("604", Some(Exception)),
        ];
        for (code, want) in rows {
            let meaning = action_meaning(code);
            match want {
                Some(s) => assert_eq!(meaning, CodeMeaning::Status(*s), "{code}"),
                None => assert_eq!(meaning, CodeMeaning::NoStatus, "{code}"),
            }
            // Through the parser, with a text that classifies as nothing: known
            // codes give their status (judgements: the fallback), without an
            // unknown-code warning.
            let (status, _, warnings) = one(json!(code), "");
            assert!(
                !warnings.iter().any(|w| w.contains("is unknown")),
                "{code}: {warnings:?}"
            );
            match want {
                Some(s) => assert_eq!(status, *s, "{code}"),
                // Newest (only) event, no text: the top-level State 2.
                None => {
                    assert_eq!(status, InTransit, "{code}");
                    assert_eq!(warnings, vec!["unclassified trace: ".to_string()]);
                }
            }
            // Also as the top-level StateEx.
            let r = parse(json!({"Success": true, "State": "1", "StateEx": code})).unwrap();
            assert_eq!(r.status, Some(want.unwrap_or(PickedUp)), "StateEx {code}");
        }
        for code in ["7", "203", "999", "4000", "abc"] {
            assert_eq!(action_meaning(code), CodeMeaning::Unknown, "{code}");
        }
    }

    #[test]
    fn judgement_codes_let_the_text_decide_and_keep_the_code() {
        let (status, _, _) = one(json!("402"), "【上海市】快件已到达【上海浦东张江营业部】");
        assert_eq!(status, ArrivedAtDestinationCity);
        let r = parse(json!({"Success": true, "State": "2", "StateEx": "403", "Traces": [
            {"AcceptTime": "2024-05-01 10:00:00", "AcceptStation": "派件员 张三 正在派件", "Action": "403"}]}))
        .unwrap();
        assert_eq!(r.events[0].code.as_deref(), Some("403"));
        assert_eq!(r.events[0].status, OutForDelivery);
        assert_eq!(r.raw_state.as_deref(), Some("State=2;StateEx=403"));
        assert_eq!(one(json!("418"), "已签收，签收人：本人").0, Delivered);
        assert_eq!(
            one(json!("417"), "快件派送失败，原因：电话无人接听").0,
            DeliveryFailed
        );
    }

    #[test]
    fn generic_codes_let_the_text_decide() {
        assert_eq!(one(json!("2"), "【杭州市】快件派送中").0, OutForDelivery);
        assert_eq!(
            one(json!(206), "快件已被【丰巢智能柜】代收").0,
            AwaitingCollection
        );
        assert_eq!(one(json!("2"), "运输中").0, InTransit);
        assert_eq!(one(json!("2"), "").0, InTransit);
        // Specific codes win over the text.
        assert_eq!(one(json!("1"), "【杭州市】快件派送中").0, PickedUp);
        assert_eq!(one(json!("405"), "派件员 张三 正在派件").0, DeliveryFailed);
    }

    #[test]
    fn hub_scans() {
        // From the text.
        let (s, hub, _) = one(json!("2"), "快件已到达【杭州转运中心】");
        assert_eq!((s, hub.as_deref()), (InTransit, Some("杭州转运中心")));
        // Action 204: from the text, else Location, else "".
        let (s, hub, _) = one(json!("204"), "快件已到达【杭州转运中心】");
        assert_eq!((s, hub.as_deref()), (InTransit, Some("杭州转运中心")));
        let (s, hub, _) = one(json!("204"), "快件已到达");
        assert_eq!((s, hub.as_deref()), (InTransit, Some("")));
        let r = parse(json!({"Success": true, "Traces": [
            {"AcceptTime": "2024-05-01 10:00:00", "AcceptStation": "到件扫描",
             "Location": "杭州转运中心", "Action": 204}]}))
        .unwrap();
        assert_eq!(r.events[0].hub.as_deref(), Some("杭州转运中心"));
        // A departure never has a hub, whatever the code.
        let (s, hub, _) = one(
            json!("204"),
            "快件离开【杭州转运中心】已发往【上海分拨中心】",
        );
        assert_eq!((s, hub), (InTransit, None));
        let (s, hub, _) = one(json!("2"), "快件离开【杭州转运中心】已发往【上海分拨中心】");
        assert_eq!((s, hub), (InTransit, None));
        // No hub on other statuses.
        let (s, hub, _) = one(json!("202"), "快件已到达【杭州转运中心】");
        assert_eq!((s, hub), (OutForDelivery, None));
    }

    #[test]
    fn unknown_codes_warn_and_never_become_terminal() {
        // Text wins when it matches.
        let (s, _, w) = one(json!("299"), "派件员 张三 正在派件");
        assert_eq!(s, OutForDelivery);
        assert_eq!(w, vec![r#"kdniao Action "299" is unknown"#.to_string()]);
        // Else the family, but a terminal family becomes InTransit.
        assert_eq!(one(json!("399"), "").0, InTransit);
        assert_eq!(one(json!("499"), "").0, Exception);
        assert_eq!(one(json!("199"), "").0, PickedUp);
        assert_eq!(one(json!("699"), "").0, CustomsClearance);
        // No family: unclassified fallback (newest event: top-level State 2).
        let (s, _, w) = one(json!("999"), "some text 13812345678");
        assert_eq!(s, InTransit);
        assert_eq!(
            w,
            vec![
                r#"kdniao Action "999" is unknown"#.to_string(),
                "unclassified trace: some text 138****5678".to_string()
            ]
        );
        // Phone-like codes are masked in the warning.
        let (_, _, w) = one(json!("13812345678"), "已签收");
        assert_eq!(
            w,
            vec![r#"kdniao Action "138****5678" is unknown"#.to_string()]
        );
        // Unknown top-level codes: warnings, non-terminal family.
        let r = parse(json!({"Success": true, "State": "9", "StateEx": "399"})).unwrap();
        assert_eq!(r.status, Some(InTransit));
        assert_eq!(
            r.warnings,
            vec![
                r#"kdniao State "9" is unknown"#.to_string(),
                r#"kdniao StateEx "399" is unknown"#.to_string()
            ]
        );
        assert_eq!(r.raw_state.as_deref(), Some("State=9;StateEx=399"));
    }

    #[test]
    fn unclassified_events_take_the_top_level_status_only_when_newest() {
        let r = parse(json!({"Success": true, "State": "3", "Traces": [
            {"AcceptTime": "2024-05-02 10:00:00", "AcceptStation": "感谢使用"},
            {"AcceptTime": "2024-05-01 10:00:00", "AcceptStation": "嗯"}]}))
        .unwrap();
        assert_eq!(r.events[0].status, Delivered);
        assert_eq!(r.events[1].status, InTransit);
        assert_eq!(r.status, Some(Delivered));
        assert_eq!(
            r.warnings,
            vec![
                "unclassified trace: 感谢使用".to_string(),
                "unclassified trace: 嗯".to_string()
            ]
        );
        // StateEx beats State; a judgement StateEx falls back on State.
        let r = parse(
            json!({"Success": true, "State": "2", "StateEx": "211", "Traces": [
            {"AcceptTime": "2024-05-02 10:00:00", "AcceptStation": "嗯"}]}),
        )
        .unwrap();
        assert_eq!(r.status, Some(AwaitingCollection));
        // No top-level code at all: InTransit.
        let r = parse(json!({"Traces": [{"AcceptTime": "2024-05-02 10:00:00"}]})).unwrap();
        assert_eq!(r.status, Some(InTransit));
        assert_eq!(r.events[0].text, "");
    }

    #[test]
    fn real_world_quirks() {
        let r = parse(json!({
            "EBusinessID": "1000000", "ShipperCode": "zto", "LogisticCode": 75312345678901_u64,
            "Success": "true", "Reason": null, "State": 3, "StateEx": 301, "Location": null,
            "Traces": [
                {"AcceptTime": "2024/5/3 9:05", "AcceptStation": "已签收，签收人：本人", "Location": null, "Action": 301, "Remark": null},
                {"AcceptTime": "２０２４－０５－０１　０９：１２：００", "AcceptStation": "【杭州市】快件已由 杭州余杭网点 揽收", "Location": "", "Action": "1"},
                {"AcceptTime": "2024-5-2 8:00:00", "AcceptStation": "快件已到达【杭州转运中心】", "Action": null},
            ]}))
        .unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("ZTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("75312345678901"));
        assert_eq!(r.raw_state.as_deref(), Some("State=3;StateEx=301"));
        assert_eq!(r.status, Some(Delivered));
        let got: Vec<_> = r
            .events
            .iter()
            .map(|e| {
                (
                    e.at,
                    e.status,
                    e.hub.as_deref(),
                    e.location.as_deref(),
                    e.code.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (utc(2024, 5, 3, 1, 5, 0), Delivered, None, None, Some("301")),
                (utc(2024, 5, 1, 1, 12, 0), PickedUp, None, None, Some("1")),
                (
                    utc(2024, 5, 2, 0, 0, 0),
                    InTransit,
                    Some("杭州转运中心"),
                    None,
                    None
                ),
            ]
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn newest_first_and_shuffled_traces_give_the_same_status() {
        let traces = [
            json!({"AcceptTime": "2024-05-01 09:12:00", "AcceptStation": "已揽收", "Action": "1"}),
            json!({"AcceptTime": "2024-05-02 07:40:00", "AcceptStation": "快件派送中", "Action": "202"}),
            json!({"AcceptTime": "2024-05-01 20:00:00", "AcceptStation": "快件已到达【杭州转运中心】", "Action": "2"}),
        ];
        for order in [[0, 1, 2], [1, 2, 0], [2, 0, 1], [1, 0, 2]] {
            let t: Vec<Value> = order.iter().map(|&i| traces[i].clone()).collect();
            let r = parse(json!({"Success": true, "State": "2", "Traces": t})).unwrap();
            assert_eq!(r.status, Some(OutForDelivery), "{order:?}");
            assert_eq!(r.events.len(), 3);
        }
    }

    #[test]
    fn not_found_is_an_empty_reply() {
        let r = parse(
            json!({"EBusinessID": "1000000", "ShipperCode": "YTO", "LogisticCode": "YT1234567",
            "Success": true, "Reason": "暂无轨迹信息", "State": "0", "Traces": []}),
        )
        .unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
        assert_eq!(r.raw_state.as_deref(), Some("State=0"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT1234567"));
        // No Traces key at all.
        let r = parse(json!({"Success": true, "State": "0"})).unwrap();
        assert!(r.knows_nothing());
        assert_eq!(r.status, Some(Pending));
        for reason in ["暂无轨迹信息", "此单无轨迹", "没有物流轨迹", "查询无结果"]
        {
            let r = parse(json!({"ShipperCode": "YTO", "LogisticCode": "YT1234567",
                "Success": false, "Reason": reason, "State": "0"}))
            .unwrap();
            assert!(r.knows_nothing(), "{reason}");
            assert_eq!(r.status, Some(Pending));
        }
    }

    #[test]
    fn failures() {
        let e = parse(
            json!({"EBusinessID": "1000000", "ShipperCode": "YTO", "LogisticCode": "YT1",
            "Success": false, "Reason": "业务错误[没有可用套餐]", "State": "0", "Traces": []}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            NormaliseError::CarrierFailure {
                provider: "kdniao",
                code: None,
                reason: "业务错误[没有可用套餐]".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "kdniao reports a failure: 业务错误[没有可用套餐]"
        );
        let e = parse(json!({"Success": "false"})).unwrap_err();
        assert_eq!(
            e,
            NormaliseError::CarrierFailure {
                provider: "kdniao",
                code: None,
                reason: "".into()
            }
        );
    }

    #[test]
    fn input_errors() {
        let e = parse(json!({"Success": true, "Traces": [
            {"AcceptTime": "2024-05-01 10:00:00"}, {"AcceptTime": "2024-05-01 11:00:00"},
            {"AcceptTime": "2024-05-01 12:00:00"}, {"AcceptStation": "已揽收"}]}))
        .unwrap_err();
        assert_eq!(
            e,
            NormaliseError::MissingField {
                field: "Traces[3].AcceptTime".into()
            }
        );
        let e = parse(json!({"Success": true, "Traces": [{"AcceptTime": ""}]})).unwrap_err();
        assert_eq!(
            e,
            NormaliseError::MissingField {
                field: "Traces[0].AcceptTime".into()
            }
        );
        let e = parse(json!({"Success": true, "Traces": [
            {"AcceptTime": "2024-05-01 10:00:00"}, {"AcceptTime": "2024-05-01 10:00:00"},
            {"AcceptTime": "2024-13-01"}]}))
        .unwrap_err();
        assert_eq!(
            e,
            NormaliseError::BadTime {
                field: "Traces[2].AcceptTime".into(),
                value: "2024-13-01".into()
            }
        );
        assert_eq!(
            e.to_string(),
            r#"Traces[2].AcceptTime: cannot parse time "2024-13-01": no such date"#
        );
        let e =
            parse(json!({"Success": true, "Traces": [{"AcceptTime": 1714526400}]})).unwrap_err();
        assert!(
            matches!(e, NormaliseError::BadTime { ref field, .. } if field == "Traces[0].AcceptTime")
        );
        let e = parse(json!({"Success": true, "Traces": "none"})).unwrap_err();
        assert_eq!(
            e,
            NormaliseError::BadValue {
                field: "Traces".into(),
                value: "none".into(),
                reason: "expected an array".into()
            }
        );
        let e = parse(json!({"Success": true, "Traces": [42]})).unwrap_err();
        assert!(matches!(e, NormaliseError::BadValue { ref field, .. } if field == "Traces[0]"));
        let e = parse(json!({"Success": "yes"})).unwrap_err();
        assert!(matches!(e, NormaliseError::BadValue { ref field, .. } if field == "Success"));
        let e = parse(json!({"Success": true, "State": {"a": 1}})).unwrap_err();
        assert!(matches!(e, NormaliseError::BadValue { ref field, .. } if field == "State"));
        let e = parse(json!({"Traces": [{"AcceptTime": "2024-05-01 10:00:00", "Action": [1]}]}))
            .unwrap_err();
        assert!(
            matches!(e, NormaliseError::BadValue { ref field, .. } if field == "Traces[0].Action")
        );
    }

    #[test]
    fn odd_shipper_codes_and_numbers() {
        let r = parse(json!({"ShipperCode": "", "LogisticCode": "", "Success": true})).unwrap();
        assert_eq!((r.carrier, r.tracking_number), (None, None));
        assert!(r.warnings.is_empty());
        assert_eq!(r.status, None);
        let r = parse(json!({"ShipperCode": "Y-TO!", "Success": true})).unwrap();
        assert_eq!(r.carrier, None);
        assert_eq!(
            r.warnings,
            vec![r#"kdniao ShipperCode "Y-TO!" is not a carrier code"#.to_string()]
        );
    }

    /// Section 1.8: a push batches several parcels.
    #[test]
    fn push() {
        let v = json!({"EBusinessID": "1000000", "PushTime": "2024-05-02 08:00:00", "Count": "1",
            "Data": [
                {"EBusinessID": "1000000", "ShipperCode": "YTO", "LogisticCode": "YT0000000000001",
                 "Success": true, "State": "2", "StateEx": "202", "Location": "杭州市", "CallBack": "",
                 "Traces": [
                    {"AcceptTime": "2024-05-01 09:12:00", "AcceptStation": "【杭州市】快件已揽收", "Location": "杭州市", "Action": "1", "Remark": ""},
                    {"AcceptTime": "2024-05-02 07:40:00", "AcceptStation": "【杭州市】快件派送中", "Location": "杭州市", "Action": "202", "Remark": ""}]},
                {"EBusinessID": "1000000", "ShipperCode": "ZTO", "LogisticCode": "ZT0000000000002",
                 "Success": true, "State": 0, "Traces": []}]});
        let replies = parse_kdniao_push(&v).unwrap();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].status, Some(OutForDelivery));
        assert_eq!(replies[0].events.len(), 2);
        assert_eq!(replies[1].carrier.as_ref().map(|c| c.as_str()), Some("ZTO"));
        assert_eq!(replies[1].status, Some(Pending));
        assert!(replies[1].knows_nothing());

        // Errors carry the element's path.
        let bad = json!({"PushTime": "2024-05-02 08:00:00", "Data": [
            {"Success": true, "Traces": []},
            {"Success": true, "Traces": [{"AcceptTime": "2024-02-30 10:00:00"}]}]});
        assert_eq!(
            parse_kdniao_push(&bad).unwrap_err(),
            NormaliseError::BadTime {
                field: "Data[1].Traces[0].AcceptTime".into(),
                value: "2024-02-30 10:00:00".into()
            }
        );
        assert_eq!(
            parse_kdniao_push(&json!({"PushTime": "x"})).unwrap_err(),
            NormaliseError::MissingField {
                field: "Data".into()
            }
        );
        assert!(matches!(
            parse_kdniao_push(&json!({"Data": {}})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "Data"
        ));
        assert!(matches!(
            parse_kdniao_push(&json!({"Data": [1]})).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "Data[0]"
        ));
        assert!(matches!(
            parse_kdniao_push(&json!([])).unwrap_err(),
            NormaliseError::BadValue { ref field, .. } if field == "$"
        ));
    }

    // -- carriers.md §7: success flags that lie ------------------------------------
    //
    // Replies that went through an SDK or an app's model class carry every field of
    // that class: `Success` and `success` side by side (disagreeing), keys in two
    // spellings (`ShipperCode` and `shipperCode`), the Chinese carrier name as the
    // `ShipperCode`. Success is judged by the state code and the traces, an error
    // by an error code or message, never by one boolean alone.

    const TWO_TRACES: &str = r#"[
        {"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收","Action":"1"},
        {"AcceptTime":"2024-05-02 07:40:00","AcceptStation":"【杭州市】快件派送中","Action":"202"}]"#;

    fn traces() -> Value {
        serde_json::from_str(TWO_TRACES).unwrap()
    }

    #[test]
    fn section7_success_and_success_disagree_traces_decide() {
        // The carrier's `Success` true, the model class's `success` false.
        for (big, small) in [(json!(true), json!(false)), (json!(false), json!(true))] {
            let r = parse(json!({"EBusinessID": "1000000", "ShipperCode": "YTO",
                "LogisticCode": "YT0000000000001", "Success": big, "success": small,
                "Reason": null, "State": "2", "Traces": traces()}))
            .unwrap_or_else(|e| panic!("Success {big} success {small}: {e}"));
            assert_eq!(r.status, Some(OutForDelivery));
            assert_eq!(r.events.len(), 2);
            assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        }
        // Both flags false (the model's defaults) but a state code and traces and
        // no error code or message: a good reply.
        let r = parse(
            json!({"ShipperCode": "YTO", "LogisticCode": "YT0000000000001",
            "Success": false, "success": false, "Reason": "", "State": "2",
            "Traces": traces()}),
        )
        .unwrap();
        assert_eq!(r.status, Some(OutForDelivery));
        assert_eq!(r.events.len(), 2);
        // A lone false flag beside a state code (no traces yet in this reply, no
        // error): the state code decides.
        let r = parse(json!({"Success": false, "Reason": null, "State": "3"})).unwrap();
        assert_eq!(r.status, Some(Delivered));
    }

    #[test]
    fn section7_keys_in_two_spellings() {
        // Both spellings, one of them null or empty (the model's default).
        let r = parse(json!({"ShipperCode": "YTO", "shipperCode": null,
            "LogisticCode": "", "logisticCode": "YT0000000000001",
            "Success": true, "success": false, "State": "2", "state": null,
            "Traces": traces(), "traces": []}))
        .unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.status, Some(OutForDelivery));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // Only the camelCase spelling (the whole reply went through a model class),
        // detected as Kdniao and read like the PascalCase one.
        let body = r#"{"success":true,"shipperCode":"YTO","logisticCode":"YT0000000000001",
            "state":"2","reason":null,"traces":[
            {"acceptTime":"2024-05-01 09:12:00","acceptStation":"【杭州市】快件已揽收","action":"1","location":"杭州市"},
            {"acceptTime":"2024-05-02 07:40:00","acceptStation":"【杭州市】快件派送中","action":"202"}]}"#;
        let r = parse_reply(body, None).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert_eq!(r.status, Some(OutForDelivery));
        assert_eq!(r.events[0].location.as_deref(), Some("杭州市"));
        assert_eq!(r.events[1].code.as_deref(), Some("202"));
        assert_eq!(r.raw_state.as_deref(), Some("State=2"));
        // The same key twice in one spelling is no error either (the last wins).
        let body = r#"{"Success":true,"ShipperCode":"YTO","ShipperCode":"YTO",
            "LogisticCode":"YT0000000000001","State":"0"}"#;
        let r = parse_reply(body, Some(Format::Kdniao)).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
    }

    #[test]
    fn section7_shipper_code_as_the_chinese_name() {
        let r = parse(
            json!({"ShipperCode": "圆通速递", "LogisticCode": "YT0000000000001",
            "Success": true, "State": "2", "Traces": traces()}),
        )
        .unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // Name in one spelling, code in the other: both say YTO.
        let r = parse(json!({"ShipperCode": "圆通速递", "shipperCode": "YTO",
            "Success": true, "State": "0"}))
        .unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // A name the carrier table does not know stays a warning.
        let r = parse(json!({"ShipperCode": "某某快运", "Success": true})).unwrap();
        assert_eq!(r.carrier, None);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    }

    #[test]
    fn section7_real_failures_and_not_found_stay_what_they_are() {
        // A real failure re-serialised by a model class: still a failure, whatever
        // the other flag says (an error message decides).
        for small in [json!(false), json!(true), json!(null)] {
            let e = parse(json!({"ShipperCode": "YTO", "LogisticCode": "YT1",
                "Success": false, "success": small, "Reason": "业务错误[没有可用套餐]",
                "State": "0", "Traces": []}))
            .unwrap_err();
            assert_eq!(
                e,
                NormaliseError::CarrierFailure {
                    provider: "kdniao",
                    code: None,
                    reason: "业务错误[没有可用套餐]".into()
                },
                "success {small}"
            );
        }
        // An error code with a false flag: a failure, the code kept.
        let e = parse(json!({"Success": false, "success": true, "Code": "405",
            "Reason": "查询次数超过限制"}))
        .unwrap_err();
        assert!(
            matches!(e, NormaliseError::CarrierFailure { ref code, .. } if code.as_deref() == Some("405")),
            "{e:?}"
        );
        // Decision: an explicit error (message or code) beside traces is a failure;
        // traces the carrier itself disowns are never merged.
        let e = parse(
            json!({"Success": false, "Reason": "非法参数[请核实ID和key是否正确]",
            "State": "2", "Traces": traces()}),
        )
        .unwrap_err();
        assert!(matches!(e, NormaliseError::CarrierFailure { .. }), "{e:?}");
        // A lone false flag, nothing else: a failure (nothing contradicts it).
        assert!(matches!(
            parse(json!({"Success": false, "success": false, "State": "0"})).unwrap_err(),
            NormaliseError::CarrierFailure { .. }
        ));
        // Not found, with the model's extra flag: still "the carrier knows nothing".
        for small in [json!(false), json!(true)] {
            let r = parse(json!({"ShipperCode": "YTO", "LogisticCode": "YT1234567",
                "Success": true, "success": small, "Reason": "暂无轨迹信息", "State": "0",
                "Traces": [], "traces": null}))
            .unwrap();
            assert!(r.knows_nothing());
            assert_eq!(r.status, Some(Pending));
            let r = parse(json!({"ShipperCode": "YTO", "LogisticCode": "YT1234567",
                "Success": false, "success": small, "Reason": "暂无轨迹信息", "State": "0"}))
            .unwrap();
            assert!(r.knows_nothing());
            assert_eq!(r.status, Some(Pending));
        }
        // A flag that is not a boolean is still bad input, naming the key.
        let e = parse(json!({"Success": true, "success": "maybe"})).unwrap_err();
        assert!(
            matches!(e, NormaliseError::BadValue { ref field, .. } if field == "success"),
            "{e:?}"
        );
    }

    #[test]
    fn section7_push_elements_with_lying_flags() {
        let v = json!({"EBusinessID": "1000000", "PushTime": "2024-05-02 08:00:00", "Count": "1",
            "Data": [{"ShipperCode": "圆通速递", "shipperCode": "YTO",
                      "LogisticCode": "YT0000000000001", "Success": false, "success": true,
                      "State": "2", "Traces": traces()}]});
        let replies = parse_kdniao_push(&v).unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].status, Some(OutForDelivery));
        assert_eq!(replies[0].carrier.as_ref().map(|c| c.as_str()), Some("YTO"));
    }
}
