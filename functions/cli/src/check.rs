//! `sentinel check`: the rules over one carrier response file, as JSON.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{json, Value};

use shared::config::Settings;
use shared::domain::{CarrierCode, Shipment, ShipmentId, Timeline, TrackingNumber};
use shared::normalise;
use shared::normalise::Format;
use shared::rules;
use shared::schedule;
use shared::schedule::TrackingMode;
use shared::time::{parse_user_time, rfc3339};

use crate::Failure;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The carrier's reply, in its own JSON format.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The reply's format; detected from its fields when not given.
    #[arg(long, value_parser = ["kdniao", "kuaidi100"])]
    pub format: Option<String>,
    /// Evaluate at this instant (RFC 3339; a time without offset is China time).
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// When the parcel was shipped/registered (starts no_pickup and no_trace).
    #[arg(long, value_name = "TIME")]
    pub shipped_at: Option<String>,
    /// The delivery promise (starts `late`).
    #[arg(long, value_name = "TIME")]
    pub promised_at: Option<String>,
    /// Carrier code (SF, ZTO, ...) when the reply does not name it, or to override it.
    #[arg(long, value_name = "CODE")]
    pub carrier: Option<String>,
}

pub(crate) fn time_arg(flag: &str, raw: &Option<String>) -> Result<Option<DateTime<Utc>>, Failure> {
    raw.as_deref()
        .map(|v| parse_user_time(v).map_err(|e| Failure::input(format!("--{flag}: {e}"))))
        .transpose()
}

pub fn run(args: CheckArgs) -> Result<u8, Failure> {
    let settings = Settings::from_env()?;
    let now = time_arg("now", &args.now)?.unwrap_or_else(Utc::now);
    let shipped_at = time_arg("shipped-at", &args.shipped_at)?;
    let promised_at = time_arg("promised-at", &args.promised_at)?;
    let flag_carrier = args
        .carrier
        .as_deref()
        .map(|c| CarrierCode::parse(c).map_err(|e| Failure::input(format!("--carrier: {e}"))))
        .transpose()?;
    let file = args.input.display().to_string();
    let body = std::fs::read(&args.input)
        .map_err(|e| Failure::input(format!("{file}: cannot read: {e}")))?;
    let body =
        String::from_utf8(body).map_err(|_| Failure::input(format!("{file}: not UTF-8 text")))?;
    let format = args.format.as_deref().and_then(Format::parse);
    let reply = normalise::parse_reply(&body, format)
        .map_err(|e| Failure::input(format!("{file}: {e}")))?;

    let carrier = flag_carrier.or(reply.carrier.clone());
    let number = reply
        .tracking_number
        .clone()
        .filter(|n| !n.trim().is_empty());
    // Rules need an identity; a reply without one is still evaluated, under a
    // placeholder that never reaches the output.
    let id = ShipmentId::new(
        carrier
            .clone()
            .unwrap_or_else(|| CarrierCode::parse("UNKNOWN").expect("valid placeholder")),
        number
            .as_deref()
            .and_then(|n| TrackingNumber::parse(n).ok())
            .unwrap_or_else(|| TrackingNumber::parse("00000").expect("valid placeholder")),
    );
    let timeline = Timeline::from_events(reply.events);
    let registered_at = shipped_at
        .or_else(|| timeline.events().first().map(|e| e.at))
        .unwrap_or(now);
    let mut shipment = Shipment::new(id, registered_at);
    shipment.shipped_at = shipped_at;
    shipment.promised_at = promised_at;
    shipment.timeline = timeline;
    shipment.status = shipment.timeline.current_status();

    let findings = rules::evaluate(&shipment, &settings.rules, now);
    let next = schedule::next_check_at(
        &shipment,
        &settings.rules,
        TrackingMode::Poll,
        &settings.poll,
        now,
    );
    let out = json!({
        "carrier": carrier.map(|c| c.to_string()),
        "tracking_number": number,
        "status": shipment.status.as_str(),
        "last_event_at": shipment.timeline.last().map(|e| rfc3339(e.at)),
        "findings": findings.iter().map(|f| json!({
            "rule": f.rule.as_str(),
            "severity": f.severity.as_str(),
            "since": rfc3339(f.since),
        })).collect::<Vec<Value>>(),
        "next_check_at": next.map(rfc3339),
        "raw_state": reply.raw_state,
        "warnings": reply.warnings,
    });
    println!("{out}");
    Ok(0)
}
