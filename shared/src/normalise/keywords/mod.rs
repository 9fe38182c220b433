//! Keyword classification of free-text traces (`AcceptStation`, `context`).
//!
//! Carriers' codes lag their texts and many traces carry no code at all, so every
//! trace text is classified by keywords. The checks run in a fixed order and the
//! first match wins; the order is the whole design, so here it is with its reasons:
//!
//! 1. Kdniao's own judgement phrases (超时未签收, 超时未更新) are removed first: they
//!    are time judgements, not events, and must not read as "signed" or "exception".
//! 2. **Returned** (退回件已签收, 退签...) before Refused and Returning: a signature on
//!    a returned parcel ends the return.
//! 3. **Refused** (拒收, 拒签...) before Returning: "收件人拒收，快件退回中" is a
//!    refusal (the `refused` rule), and the timeline treats later scans as the return.
//! 4. **Returning** (退回, 退件...) before Delivered and the transit groups: a returned
//!    parcel is scanned like any other ("退回件到达【…】").
//! 5. **Delivered** (已签收, 签收人, 妥投, 已取出...) before the locker group, because
//!    "签收人凭取货码签收" mentions a pickup code. 代收 alone (a locker drop) is not a
//!    signature.
//! 6. **Exception**, specific problems (地址不详, 破损, 拦截, 错分, 问题件...)
//!    before the contact-failure words: "收件地址不详，联系不上收件人" is an address
//!    problem (the `exception` rule), not a plain failed attempt.
//! 7. **AwaitingCollection** (快递柜, 丰巢, 驿站, 取件码, 超时未取...) before
//!    DeliveryFailed: "收件人不在，已放入快递柜" is in the locker.
//! 8. **DeliveryFailed** (派送失败, 无人接听, 联系不上, 改约...), then the weak
//!    problems (滞留, 无法派送: "派送失败，快件滞留网点" is a failed attempt) and the
//!    generic **异常** (so 派件异常 is a failed attempt, other 异常 an exception).
//! 9. **Pending** (已下单, 等待揽收...) before PickedUp (待揽收 contains 揽收) and
//!    before OutForDelivery (快递员已接单 mentions the courier).
//! 10. **PickedUp** (揽收, 已收取快件...) before OutForDelivery ("快递员…揽收").
//! 11. **OutForDelivery** (派件中, 派件员, 重新派送, 第N次派件...); then a resolved
//!     problem moving on (问题已处理, 继续派送...) → InTransit, as the simulator's
//!     oracle has it (异常已处理 is not an exception either).
//! 12. **ArrivedAtDestinationCity** by phrase (到达派件城市...), **CustomsClearance**,
//!     **Redirected**.
//! 13. Hub arrival/processing → InTransit with the hub name; then arrival at a
//!     delivery station (营业部, 网点...) → ArrivedAtDestinationCity; both only when
//!     no departure word (离开, 发往...) is present.
//! 14. Departure or transport words → InTransit without hub.
//!
//! Matching is on the text with full-width digits and punctuation folded to ASCII.
//!
//! Layout: the keyword tables are in `tables`, the hub-name reading in `hub`,
//! phone masking ([`mask_phones`]) in `mask`; the order of checks is here.

mod hub;
mod mask;
mod tables;
#[cfg(test)]
mod tests;

pub use mask::mask_phones;

use crate::domain::Status;
use crate::time::ascii_fold;

use hub::extract_hub;
use tables::{
    AWAITING_COLLECTION, CUSTOMS, DELIVERED, DELIVERY_FAILED, DEPARTURE, DESTINATION_CITY,
    EXCEPTION, HUB, HUB_ARRIVAL, JUDGEMENTS, NOT_DELIVERED, OUT_FOR_DELIVERY, PENDING, PICKED_UP,
    REDIRECTED, REFUSED, RESUMED, RETURNED, RETURNING, RETURN_ITEMS, SIGNED, STATION,
    STATION_ARRIVAL, TRANSPORT, WEAK_EXCEPTION,
};

/// What a trace text says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub status: Status,
    /// `Some(name)` for an arrival or processing scan at a sorting hub / transit
    /// centre (only with [`Status::InTransit`]).
    pub hub: Option<String>,
}

impl Classified {
    fn of(status: Status) -> Self {
        Self { status, hub: None }
    }
}

fn has_any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

fn without(text: &str, words: &[&str]) -> String {
    words
        .iter()
        .fold(text.to_string(), |t, w| t.replace(w, " "))
}

/// Classifies one trace text; `None` when no keyword matches.
pub fn classify_text(text: &str) -> Option<Classified> {
    let folded = without(&ascii_fold(text), JUDGEMENTS);
    let t = folded.as_str();
    if t.trim().is_empty() {
        return None;
    }
    if has_any(t, RETURNED) || (has_any(t, RETURN_ITEMS) && has_any(t, SIGNED)) {
        return Some(Classified::of(Status::Returned));
    }
    if has_any(t, REFUSED) {
        return Some(Classified::of(Status::Refused));
    }
    if has_any(t, RETURNING) {
        return Some(Classified::of(Status::Returning));
    }
    if has_any(&without(t, NOT_DELIVERED), DELIVERED) {
        return Some(Classified::of(Status::Delivered));
    }
    if has_any(t, EXCEPTION) {
        return Some(Classified::of(Status::Exception));
    }
    if has_any(t, AWAITING_COLLECTION) {
        return Some(Classified::of(Status::AwaitingCollection));
    }
    if has_any(t, DELIVERY_FAILED) {
        return Some(Classified::of(Status::DeliveryFailed));
    }
    if has_any(t, WEAK_EXCEPTION) || without(t, &["异常已处理", "异常已解除"]).contains("异常")
    {
        return Some(Classified::of(Status::Exception));
    }
    if has_any(t, PENDING) {
        return Some(Classified::of(Status::Pending));
    }
    if has_any(t, PICKED_UP) {
        return Some(Classified::of(Status::PickedUp));
    }
    if has_any(t, OUT_FOR_DELIVERY) || is_nth_attempt(t) {
        return Some(Classified::of(Status::OutForDelivery));
    }
    if has_any(t, RESUMED) {
        return Some(Classified::of(Status::InTransit));
    }
    if has_any(t, DESTINATION_CITY) {
        return Some(Classified::of(Status::ArrivedAtDestinationCity));
    }
    if has_any(t, CUSTOMS) {
        return Some(Classified::of(Status::CustomsClearance));
    }
    if has_any(t, REDIRECTED) {
        return Some(Classified::of(Status::Redirected));
    }
    let departure = has_any(t, DEPARTURE);
    if !departure && has_any(t, HUB) && has_any(t, HUB_ARRIVAL) {
        return Some(Classified {
            status: Status::InTransit,
            hub: Some(extract_hub(t).unwrap_or_default()),
        });
    }
    if !departure && has_any(t, STATION) && has_any(t, STATION_ARRIVAL) {
        return Some(Classified::of(Status::ArrivedAtDestinationCity));
    }
    if departure || has_any(t, TRANSPORT) {
        return Some(Classified::of(Status::InTransit));
    }
    None
}

/// Whether the text is a departure scan (离开…, 发往…): such a scan never has a hub.
pub fn is_departure(text: &str) -> bool {
    has_any(&ascii_fold(text), DEPARTURE)
}

/// Where a departure scan says the parcel goes next: the bracketed name after
/// 发往 / 下一站 / 前往 (`快件离开【杭州转运中心】，已发往【乌鲁木齐转运中心】` →
/// `乌鲁木齐转运中心`); `None` when the text names none.
pub fn next_stop(text: &str) -> Option<&str> {
    let at = ["发往", "下一站", "前往"]
        .iter()
        .filter_map(|k| text.find(k).map(|i| i + k.len()))
        .min()?;
    let rest = &text[at..];
    let open = rest.find('【')? + '【'.len_utf8();
    let close = rest[open..].find('】')?;
    Some(rest[open..open + close].trim()).filter(|s| !s.is_empty())
}

/// The hub name a text mentions (see [`classify_text`] for how it is found), whether
/// or not the text is an arrival; `None` when it mentions no hub keyword.
pub fn hub_name(text: &str) -> Option<String> {
    extract_hub(&ascii_fold(text))
}

/// 第1次派件, 第２次派送, 第三次投递...
fn is_nth_attempt(t: &str) -> bool {
    t.match_indices('第').any(|(i, _)| {
        let rest = t.get(i + '第'.len_utf8()..).unwrap_or("");
        let after_num = rest
            .trim_start_matches(|c: char| c.is_ascii_digit() || "一二三四五六七八九十".contains(c));
        after_num.len() < rest.len()
            && ["次派件", "次派送", "次投递"]
                .iter()
                .any(|w| after_num.starts_with(w))
    })
}
