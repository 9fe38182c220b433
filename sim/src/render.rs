//! Rendering a parcel's visible history as a real carrier reply (Kdniao 8001/1002
//! or Kuaidi100 `resultv2=4`), texts included. Texts exist only here, never in the
//! stored events.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use shared::time::local_carrier_format;

use super::fleet::{ReplyFormat, SimEvent, SimKind, SimParcel, NO_SITE};
use super::geo::{CARRIERS, CITIES, COURIERS, STATION_SHOPS};

/// Kdniao's placeholder business id echoed in simulated replies.
pub const SIM_EBUSINESS_ID: &str = "1000000";

fn city_label(city: u8) -> String {
    format!("{}市", CITIES[city as usize].name)
}

/// The name of hub `site` of `city` (as the hub scans print it).
pub fn hub_name(city: u8, site: u8) -> &'static str {
    let hubs = CITIES[city as usize].hubs;
    hubs[(site as usize).min(hubs.len() - 1)]
}

fn station_name(city: u8, site: u8) -> &'static str {
    let st = CITIES[city as usize].stations;
    st[(site as usize).min(st.len() - 1)]
}

/// The carrier's text for one event (the templates agreed with the normaliser).
pub fn event_text(p: &SimParcel, e: &SimEvent) -> String {
    let mut out = String::with_capacity(128);
    write_event_text(&mut out, p, e);
    out
}

/// Writes [`event_text`] into `out` (one allocation for the whole text, none for
/// its parts).
fn write_event_text(out: &mut String, p: &SimParcel, e: &SimEvent) {
    use std::fmt::Write as _;
    let city = CITIES[e.city as usize].name;
    let courier = COURIERS[p.courier as usize % COURIERS.len()];
    // Writing into a String cannot fail.
    let _ = match e.kind {
        SimKind::Created => out.write_str("已下单，等待揽收"),
        SimKind::PickedUp => write!(
            out,
            "【{city}市】{} {} 已揽收",
            CARRIERS[p.carrier as usize].name_zh,
            station_name(e.city, e.site)
        ),
        SimKind::HubArrive => write!(out, "快件已到达【{}】", hub_name(e.city, e.site)),
        SimKind::HubDepart => {
            let _ = write!(out, "快件离开【{}】，已发往【", hub_name(e.city, e.site));
            if e.next_site == NO_SITE {
                let next_city = if e.next_city == NO_SITE {
                    p.dest
                } else {
                    e.next_city
                };
                let _ = write!(out, "{}市", CITIES[next_city as usize].name);
            } else {
                out.push_str(hub_name(e.next_city, e.next_site));
            }
            out.write_str("】")
        }
        SimKind::StationArrive => write!(
            out,
            "【{city}市】快件已到达【{}】",
            station_name(e.city, e.site)
        ),
        SimKind::OutForDelivery => write!(
            out,
            "【{city}市】派件员 {courier}（电话13{}****{:04}）正在为您派件",
            p.courier_prefix % 10,
            p.courier_tail % 10_000
        ),
        SimKind::Locker if e.variant < 100 => write!(
            out,
            "快件已放入【丰巢智能柜{}号柜】，请凭取件码及时取件",
            e.variant as u32 + 1
        ),
        SimKind::Locker => write!(
            out,
            "快件已由【菜鸟驿站{}店】代收，请及时取件",
            STATION_SHOPS[(e.variant as usize - 100) % STATION_SHOPS.len()]
        ),
        SimKind::LockerOverdue => out.write_str("快件在驿站超时未取，请尽快取件"),
        SimKind::Delivered if e.variant == 1 => out.write_str("已签收，签收人凭取件码签收"),
        SimKind::Delivered => out.write_str("已签收，签收人：本人"),
        SimKind::Failed if e.variant == 0 => out.write_str("快件派送失败，原因：电话无人接听"),
        SimKind::Failed => out.write_str("派送不成功，收件人不在，将另约时间派送"),
        SimKind::Redeliver => write!(out, "快件重新派送中，派件员 {courier}"),
        SimKind::Exception => match e.variant {
            0 => write!(
                out,
                "收件地址不详，快件暂存【{}】",
                station_name(e.city, e.site)
            ),
            1 => out.write_str("快件外包装破损，正在处理"),
            _ => out.write_str("快件错分，正在转运回正确网点"),
        },
        SimKind::ExceptionResolved => out.write_str("问题已处理，快件继续派送"),
        SimKind::Refused => out.write_str("收件人拒收"),
        SimKind::ReturnStart => out.write_str("快件已退回，正在返回寄件人"),
        SimKind::ReturnTransit => write!(out, "退回件到达【{}】", hub_name(e.city, e.site)),
        SimKind::ReturnSigned => out.write_str("退回件已签收，签收人：寄件人"),
    };
}

/// Kdniao `Action` / `StateEx` code of an event.
pub fn kdniao_action(e: &SimEvent) -> &'static str {
    match e.kind {
        SimKind::Created => "10",
        SimKind::PickedUp => "1",
        SimKind::HubArrive => "204",
        SimKind::HubDepart => "2",
        SimKind::StationArrive => "205",
        SimKind::OutForDelivery => "202",
        SimKind::Locker => "211",
        SimKind::LockerOverdue => "412",
        SimKind::Delivered if e.variant == 1 => "311",
        SimKind::Delivered => "301",
        SimKind::Failed => "405",
        SimKind::Redeliver => "419",
        SimKind::Exception => match e.variant {
            0 => "420",
            1 => "414",
            _ => "422",
        },
        SimKind::ExceptionResolved => "2",
        SimKind::Refused => "404",
        SimKind::ReturnStart | SimKind::ReturnTransit => "407",
        SimKind::ReturnSigned => "406",
    }
}

/// Kdniao top-level `State` (the coarse family) for a fine code.
pub fn kdniao_state(action: &str) -> &'static str {
    match action {
        // 待揽件: nothing collected yet, so "no trace" rather than "picked up".
        "10" => "0",
        a if a.starts_with('1') => "1",
        a if a.starts_with('2') => "2",
        a if a.starts_with('3') => "3",
        a if a.starts_with('4') => "4",
        _ => "0",
    }
}

/// Kuaidi100 (`resultv2=4`) `statusCode` and Chinese `status` name of an event.
pub fn kuaidi100_code(e: &SimEvent) -> (&'static str, &'static str) {
    match e.kind {
        SimKind::Created => ("102", "揽收"),
        SimKind::PickedUp => ("103", "揽收"),
        SimKind::HubArrive | SimKind::HubDepart => ("1002", "在途"),
        SimKind::StationArrive => ("1001", "在途"),
        SimKind::OutForDelivery => ("5", "派件"),
        SimKind::Locker => ("501", "派件"),
        SimKind::LockerOverdue => ("205", "疑难"),
        SimKind::Delivered if e.variant == 1 => ("304", "签收"),
        SimKind::Delivered => ("301", "签收"),
        SimKind::Failed => ("204", "疑难"),
        SimKind::Redeliver => ("5", "派件"),
        SimKind::Exception => match e.variant {
            1 => ("209", "疑难"),
            _ => ("2", "疑难"),
        },
        SimKind::ExceptionResolved => ("0", "在途"),
        SimKind::Refused => ("203", "拒签"),
        SimKind::ReturnStart | SimKind::ReturnTransit => ("6", "退回"),
        SimKind::ReturnSigned => ("4", "退签"),
    }
}

/// The carrier's reply for `p` as of `now`: only events at or before `now`.
pub fn reply_json(p: &SimParcel, now: DateTime<Utc>) -> String {
    let visible = p.events_at(now);
    let value = match p.format {
        ReplyFormat::Kdniao8001 => kdniao(p, visible, true),
        ReplyFormat::Kdniao1002 => kdniao(p, visible, false),
        ReplyFormat::Kuaidi100 => kuaidi100(p, visible),
    };
    value.to_string()
}

fn kdniao(p: &SimParcel, visible: &[SimEvent], with_codes: bool) -> Value {
    let carrier = p.id.carrier.as_str();
    let number = p.id.tracking_number.as_str();
    let Some(newest) = visible.last() else {
        return json!({
            "EBusinessID": SIM_EBUSINESS_ID,
            "OrderCode": p.order_id,
            "ShipperCode": carrier,
            "LogisticCode": number,
            "Success": true,
            "Reason": "暂无轨迹信息",
            "State": "0",
            "Traces": [],
        });
    };
    let traces: Vec<Value> = visible
        .iter()
        .map(|e| {
            let mut t = json!({
                "AcceptTime": local_carrier_format(e.at),
                "AcceptStation": event_text(p, e),
                "Remark": "",
            });
            if with_codes {
                t["Location"] = json!(city_label(e.city));
                t["Action"] = json!(kdniao_action(e));
            }
            t
        })
        .collect();
    let action = kdniao_action(newest);
    let mut v = json!({
        "EBusinessID": SIM_EBUSINESS_ID,
        "OrderCode": p.order_id,
        "ShipperCode": carrier,
        "LogisticCode": number,
        "Success": true,
        "Reason": null,
        "State": kdniao_state(action),
        "Traces": traces,
    });
    if with_codes {
        v["StateEx"] = json!(action);
        v["Location"] = json!(city_label(newest.city));
    }
    v
}

fn kuaidi100(p: &SimParcel, visible: &[SimEvent]) -> Value {
    let Some(newest) = visible.last() else {
        return json!({
            "message": "快递公司参数异常：单号不存在或者已经过期",
            "nu": "",
            "ischeck": "0",
            "com": "",
            "status": "201",
            "state": "0",
            "data": [],
        });
    };
    let data: Vec<Value> = visible
        .iter()
        .rev()
        .map(|e| {
            let time = local_carrier_format(e.at);
            let (code, name) = kuaidi100_code(e);
            json!({
                "time": time,
                "ftime": time,
                "context": event_text(p, e),
                "location": "",
                "status": name,
                "statusCode": code,
            })
        })
        .collect();
    let checked = matches!(newest.kind, SimKind::Delivered | SimKind::ReturnSigned);
    json!({
        "message": "ok",
        "nu": p.id.tracking_number.as_str(),
        "ischeck": if checked { "1" } else { "0" },
        "com": CARRIERS[p.carrier as usize].kuaidi100,
        "status": "200",
        "condition": "F00",
        "state": kuaidi100_code(newest).0,
        "data": data,
    })
}
