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

use crate::domain::Status;
use crate::time::ascii_fold;

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

/// Kdniao's time judgements, removed before matching.
const JUDGEMENTS: &[&str] = &["超时未签收", "超时未更新"];

const RETURNED: &[&str] = &[
    "退回签收",
    "退件签收",
    "退签",
    "已退回寄件人",
    "已退回至寄件人",
    "退回成功",
    "退货签收",
    "退件已签收",
    "退货已签收",
];
/// A returned item ...
const RETURN_ITEMS: &[&str] = &["退回件", "退件", "退货件", "退回快件", "退回的快件"];
/// ... that has been signed for.
const SIGNED: &[&str] = &["已签收", "签收人", "签收成功"];

const REFUSED: &[&str] = &["拒收", "拒签", "拒绝签收", "拒绝接收"];

const RETURNING: &[&str] = &[
    "退回",
    "退件",
    "退货",
    "返回寄件人",
    "原路返回",
    "退回中",
    "已安排退回",
];

const DELIVERED: &[&str] = &[
    "已签收",
    "签收人",
    "本人签收",
    "已妥投",
    "妥投",
    "代签收",
    "凭取货码签收",
    "凭取件码签收",
    "已取件",
    "已取出",
    "已被取出",
    "已领取",
];
/// Negations removed before the Delivered check.
const NOT_DELIVERED: &[&str] = &["未妥投", "无法妥投"];

const EXCEPTION: &[&str] = &[
    "地址不详",
    "地址错误",
    "地址不全",
    "地址不详细",
    "地址有误",
    "电话错误",
    "号码错误",
    "电话有误",
    "破损",
    "丢失",
    "遗失",
    "拦截",
    "错分",
    "分拣错误",
    "超区",
    "问题件",
    "清关异常",
    "海关扣",
    "扣件",
];

/// Problems that often only follow a failed attempt ("派送失败，快件滞留网点"):
/// an exception only when no failed-attempt word is present.
const WEAK_EXCEPTION: &[&str] = &["滞留", "无法派送"];

const AWAITING_COLLECTION: &[&str] = &[
    "快递柜",
    "丰巢",
    "智能柜",
    "驿站",
    "代收点",
    "自提点",
    "自提柜",
    "取件码",
    "取货码",
    "请及时取件",
    "待取件",
    "超时未取",
    "已代收",
];

const DELIVERY_FAILED: &[&str] = &[
    "派送失败",
    "投递失败",
    "派件失败",
    "派送不成功",
    "派件不成功",
    "投递不成功",
    "派件异常",
    "派送异常",
    "未妥投",
    "无法妥投",
    "电话无人接听",
    "无人接听",
    "无法联系",
    "联系不上",
    "改约",
    "客户不在",
    "收件人不在",
    "预约再派",
    "二次派送",
];

const PENDING: &[&str] = &[
    "已下单",
    "待揽收",
    "等待揽收",
    "待揽件",
    "订单已提交",
    "暂无轨迹",
    "已接单",
    "电子面单已打印",
    "已打印",
];

const PICKED_UP: &[&str] = &[
    "揽收",
    "揽件",
    "已收件",
    "收寄",
    "已收取快件",
    "收件成功",
    "已揽",
];

const OUT_FOR_DELIVERY: &[&str] = &[
    "派件中",
    "派送中",
    "正在派件",
    "正在派送",
    "正在投递",
    "开始派送",
    "派件员",
    "派送员",
    "快递员",
    "重新派送",
    "再次派送",
    "安排派送",
    "准备派送",
];

/// A problem resolved, the parcel moving on again (not yet with a courier).
const RESUMED: &[&str] = &[
    "问题已处理",
    "异常已处理",
    "异常已解除",
    "继续派送",
    "继续运输",
    "继续转运",
];

const DESTINATION_CITY: &[&str] = &["到达派件城市", "到达目的地", "到达目的城市"];

const CUSTOMS: &[&str] = &["清关", "海关", "报关", "入境", "出境"];

const REDIRECTED: &[&str] = &["转寄", "转投", "改寄", "更址"];

/// Sorting hubs and transit centres.
const HUB: &[&str] = &[
    "转运中心",
    "分拨中心",
    "集散中心",
    "分拣中心",
    "处理中心",
    "中转场",
    "转运场",
    "中转中心",
    "分拨",
    "转运站",
    "航空部",
    "枢纽",
];
/// Arrival or processing at a place.
const HUB_ARRIVAL: &[&str] = &[
    "到达",
    "已到达",
    "到",
    "抵达",
    "进行",
    "分拣",
    "卸车",
    "入库",
    "扫描",
    "处理",
    "在",
];
/// Leaving a place. Any of these makes the scan a departure (no hub).
const DEPARTURE: &[&str] = &[
    "离开",
    "发往",
    "已发出",
    "发出",
    "已发车",
    "发车",
    "装车",
    "出发",
    "运往",
    "前往",
    "送往",
];

/// Delivery stations (the last stop before the courier).
const STATION: &[&str] = &[
    "营业部",
    "营业点",
    "网点",
    "分部",
    "站点",
    "服务站",
    "营业厅",
    "投递部",
    "揽投部",
];
const STATION_ARRIVAL: &[&str] = &["到达", "到", "抵达"];

/// Departure or transport without a place of arrival.
const TRANSPORT: &[&str] = &[
    "离开",
    "发往",
    "已发出",
    "发出",
    "发车",
    "装车",
    "运输中",
    "在途",
    "转运中",
    "航班",
    "干线",
    "运往",
];

/// Words that end a hub name when reading backwards from the hub keyword.
const NAME_STOPS: &[&str] = &["到达", "抵达", "到", "在", "进入", "于"];

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

fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || "，。、：；！？（）【】「」《》“”‘’·…".contains(c)
}

/// The hub name in an (already folded) text: the bracketed name 【…】 that contains
/// a hub keyword, else the run of characters that ends with the keyword, read
/// backwards to a delimiter or an arrival word (到达, 在...).
fn extract_hub(t: &str) -> Option<String> {
    // 1. A bracketed name containing a hub keyword.
    let mut rest = t;
    while let Some(open) = rest.find(['【', '[']) {
        let after = rest.get(open..).unwrap_or("");
        let after = after
            .char_indices()
            .nth(1)
            .and_then(|(i, _)| after.get(i..))
            .unwrap_or("");
        let Some(close) = after.find(['】', ']']) else {
            break;
        };
        let inner = after.get(..close).unwrap_or("").trim();
        if has_any(inner, HUB) {
            return Some(inner.to_string());
        }
        rest = after.get(close..).unwrap_or("");
        // Skip the closing bracket itself.
        rest = rest
            .char_indices()
            .nth(1)
            .and_then(|(i, _)| rest.get(i..))
            .unwrap_or("");
    }
    // 2. The earliest hub keyword (the longest one at that position).
    let (start, end) = HUB
        .iter()
        .filter_map(|k| t.find(k).map(|s| (s, s + k.len())))
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
    let before = t.get(..start).unwrap_or("");
    let mut name_start = start;
    for (i, c) in before.char_indices().rev() {
        if is_delimiter(c) {
            break;
        }
        let upto = t.get(..i + c.len_utf8()).unwrap_or("");
        if NAME_STOPS.iter().any(|w| upto.ends_with(w)) {
            break;
        }
        name_start = i;
    }
    t.get(name_start..end).map(|s| s.trim().to_string())
}

/// Masks every run of seven or more digits (ASCII or full-width) so that phone
/// numbers in trace texts never reach logs: the first three and last four digits
/// stay, e.g. `13812345678` → `138****5678`. A run of exactly seven digits keeps
/// only its first three (`1234567` → `123****`), so something is always hidden.
pub fn mask_phones(text: &str) -> String {
    fn is_digit(c: char) -> bool {
        c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&c)
    }
    let mut out = String::with_capacity(text.len());
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut String| {
        let n = run.len();
        if n >= 8 {
            out.extend(run.iter().take(3));
            out.extend(std::iter::repeat_n('*', n - 7));
            out.extend(run.iter().skip(n - 4));
        } else if n == 7 {
            out.extend(run.iter().take(3));
            out.push_str("****");
        } else {
            out.extend(run.iter());
        }
        run.clear();
    };
    for c in text.chars() {
        if is_digit(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn st(text: &str) -> Option<Status> {
        classify_text(text).map(|c| c.status)
    }

    fn hub(text: &str) -> Option<String> {
        classify_text(text).and_then(|c| c.hub)
    }

    #[track_caller]
    fn group(status: Status, texts: &[&str]) {
        for t in texts {
            assert_eq!(st(t), Some(status), "{t}");
        }
    }

    #[test]
    fn returned_group() {
        group(
            Returned,
            &[
                "退回签收",
                "退件签收",
                "退签",
                "已退回寄件人",
                "退回成功",
                "退货签收",
                "退件已签收",
                "退回件已签收",
                "退回件已签收，签收人：寄件人",
            ],
        );
    }

    #[test]
    fn refused_group() {
        group(
            Refused,
            &["拒收", "拒签", "收件人拒绝签收", "拒绝接收", "收件人拒收"],
        );
        // Refusal before return, by design.
        assert_eq!(st("收件人拒收，快件退回中"), Some(Refused));
    }

    #[test]
    fn returning_group() {
        group(
            Returning,
            &[
                "退回",
                "退件",
                "退货",
                "返回寄件人",
                "原路返回",
                "快件退回中",
                "已安排退回",
                "快件已退回，正在返回寄件人",
                "退回件到达【杭州转运中心】",
            ],
        );
        // A returned parcel's arrival is not a hub dwell of a delivery.
        assert_eq!(hub("退回件到达【杭州转运中心】"), None);
    }

    #[test]
    fn delivery_failed_group() {
        group(
            DeliveryFailed,
            &[
                "派送失败",
                "投递失败",
                "派件失败",
                "派送不成功",
                "派件异常",
                "派送异常",
                "电话无人接听",
                "无人接听",
                "无法联系收件人",
                "联系不上",
                "客户改约时间",
                "客户不在",
                "收件人不在",
                "预约再派",
                "二次派送",
                "快件派送失败，原因：电话无人接听",
                "派送不成功，收件人不在，将另约时间派送",
            ],
        );
    }

    #[test]
    fn exception_group() {
        group(
            Exception,
            &[
                "地址不详",
                "地址错误",
                "地址不全",
                "地址不详细",
                "电话错误",
                "号码错误",
                "快件破损",
                "快件丢失",
                "快件遗失",
                "快件已拦截",
                "快件错分",
                "分拣错误",
                "超区件",
                "问题件",
                "快件滞留",
                "清关异常",
                "海关扣件",
                "扣件",
                "无法派送",
                "快件异常",
                // Address problem beats the contact-failure words, by design.
                "收件地址不详，联系不上收件人",
                "收件地址不详，快件暂存【上海浦东张江营业部】",
                "快件外包装破损，正在处理",
                "快件错分，正在转运回正确网点",
            ],
        );
    }

    #[test]
    fn judgement_texts_are_not_exceptions() {
        assert_eq!(st("快件超时未签收"), None);
        assert_eq!(st("超时未更新"), None);
        assert_eq!(st("快件在驿站超时未取"), Some(AwaitingCollection));
        // Resolved problems are not exceptions: the parcel moves on.
        assert_eq!(st("问题已处理，快件继续派送"), Some(InTransit));
        assert_eq!(st("快件异常已处理，继续运输"), Some(InTransit));
        assert_eq!(hub("问题已处理，快件继续派送"), None);
        // But a courier out with it is out for delivery.
        assert_eq!(st("问题已处理，派件员 张三 正在派件"), Some(OutForDelivery));
    }

    #[test]
    fn delivered_group() {
        group(
            Delivered,
            &[
                "已签收",
                "签收人：本人",
                "本人签收",
                "已妥投",
                "妥投",
                "门卫代签收",
                "凭取货码签收",
                "凭取件码签收",
                "已取件",
                "快件已从丰巢取出，已取出",
                "快件已被取出",
                "已领取",
                "已签收，签收人凭取货码签收",
                "已签收，签收人：本人",
                "已签收，签收人凭取件码签收",
            ],
        );
        // Locker drops are not signatures.
        assert_eq!(
            st("快件已被【丰巢智能柜】代收，请及时取件，取件码12345678"),
            Some(AwaitingCollection)
        );
        assert_eq!(st("已由菜鸟驿站代收，请及时取件"), Some(AwaitingCollection));
        assert_eq!(st("快件未妥投"), Some(DeliveryFailed));
    }

    #[test]
    fn awaiting_collection_group() {
        group(
            AwaitingCollection,
            &[
                "快件已放入快递柜",
                "丰巢",
                "智能柜",
                "驿站",
                "代收点",
                "自提点",
                "自提柜",
                "取件码123456",
                "取货码",
                "请及时取件",
                "待取件",
                "超时未取",
                "已代收",
                "快件已放入【丰巢智能柜3号柜】，请凭取件码及时取件",
                "快件已由【菜鸟驿站幸福里店】代收，请及时取件",
                "快件在驿站超时未取，请尽快取件",
                "收件人不在，已放入快递柜",
            ],
        );
    }

    #[test]
    fn out_for_delivery_group() {
        group(
            OutForDelivery,
            &[
                "派件中",
                "快件派送中",
                "正在派件",
                "正在派送",
                "正在投递",
                "开始派送",
                "派件员 张三",
                "派送员 李四",
                "快递员 王五",
                "第1次派件",
                "第２次派件",
                "第三次派送",
                "重新派送",
                "再次派送",
                "安排派送",
                "准备派送",
                "【上海市】派件员 张三（电话13812345678）正在为您派件",
                "【上海市】派件员 张三（电话138****5678）正在为您派件",
                "快件重新派送中，派件员 张三",
            ],
        );
        // 第N次 needs a number.
        assert_eq!(st("第次派件"), None);
    }

    #[test]
    fn arrived_at_destination_city_group() {
        group(
            ArrivedAtDestinationCity,
            &[
                "到达派件城市",
                "快件到达目的地",
                "到达目的城市",
                "【上海市】快件已到达【上海浦东张江营业部】",
                "快件到达【杭州余杭网点】",
                "到达 余杭营业点",
                "快件到达浦东分部",
                "到达站点",
                "快件到达【张江服务站】",
                "到达营业厅",
                "到达【上海投递部】",
                "到达【北京揽投部】",
            ],
        );
    }

    #[test]
    fn customs_and_redirect_groups() {
        group(
            CustomsClearance,
            &["清关中", "海关查验", "报关", "快件已入境", "快件已出境"],
        );
        group(Redirected, &["转寄", "转投", "改寄", "更址"]);
    }

    #[test]
    fn hub_arrival_and_processing() {
        let cases = [
            ("快件已到达【杭州转运中心】", "杭州转运中心"),
            ("【上海市】快件到达 上海分拨中心", "上海分拨中心"),
            ("快件在【广州白云集散中心】进行分拣", "广州白云集散中心"),
            ("快件在广州白云集散中心进行分拣", "广州白云集散中心"),
            ("快件已到达【拉萨转运中心】，正在进行分拣", "拉萨转运中心"),
            ("已到达北京分拣中心", "北京分拣中心"),
            ("快件到达【成都处理中心】", "成都处理中心"),
            ("快件到达【武汉中转场】", "武汉中转场"),
            ("快件到达 深圳转运场", "深圳转运场"),
            ("快件到达【郑州中转中心】，卸车扫描", "郑州中转中心"),
            ("到达【南京分拨】", "南京分拨"),
            ("快件在【苏州转运站】入库", "苏州转运站"),
            ("到达【上海航空部】", "上海航空部"),
            ("快件到达【华东枢纽】", "华东枢纽"),
            ("【杭州市】快件已到达杭州转运中心，正在分拣", "杭州转运中心"),
        ];
        for (text, name) in cases {
            assert_eq!(
                classify_text(text),
                Some(Classified {
                    status: InTransit,
                    hub: Some(name.to_string())
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn departures_and_transport_have_no_hub() {
        for t in [
            "快件离开【杭州转运中心】已发往【上海分拨中心】",
            "快件离开【杭州转运中心】，已发往【上海分拨中心】",
            "快件已从【杭州转运中心】发出",
            "【杭州转运中心】已发车",
            "快件在【杭州转运中心】装车",
            "快件运输中",
            "在途",
            "快件转运中",
            "航班已起飞",
            "干线运输",
            "快件离开【杭州余杭网点】已发往【杭州转运中心】",
        ] {
            assert_eq!(
                classify_text(t),
                Some(Classified {
                    status: InTransit,
                    hub: None
                }),
                "{t}"
            );
            assert!(is_departure(t) || !t.contains('【'), "{t}");
        }
    }

    #[test]
    fn picked_up_group() {
        group(
            PickedUp,
            &[
                "已揽收",
                "揽件",
                "已收件",
                "收寄",
                "【北京市】顺丰速运 已收取快件",
                "收件成功",
                "已揽",
                "【杭州市】快件已由 杭州余杭网点 揽收",
                "【杭州市】中通快递 杭州余杭网点 已揽收",
                "【上海市】圆通速递 上海浦东张江营业部 已揽收",
                "您的快件已由京东快递员张三揽收",
            ],
        );
    }

    #[test]
    fn pending_group() {
        group(
            Pending,
            &[
                "已下单",
                "待揽收",
                "已下单，等待揽收",
                "待揽件",
                "订单已提交",
                "暂无轨迹信息",
                "快递员已接单",
                "电子面单已打印",
                "已打印",
            ],
        );
    }

    #[test]
    fn unmatched_is_none() {
        for t in ["", "   ", "hello", "感谢使用", "问题"] {
            assert_eq!(classify_text(t), None, "{t:?}");
        }
    }

    #[test]
    fn full_width_is_folded() {
        assert_eq!(st("第１次派件"), Some(OutForDelivery));
        assert_eq!(hub("快件已到达　杭州转运中心"), Some("杭州转运中心".into()));
    }

    /// The exact lines the simulator emits.
    #[test]
    fn simulator_lines() {
        let cases: &[(&str, Status, Option<&str>)] = &[
            ("【杭州市】中通快递 杭州余杭网点 已揽收", PickedUp, None),
            (
                "【上海市】顺丰速运 上海浦东张江营业部 已揽收",
                PickedUp,
                None,
            ),
            ("【北京市】极兔速递 北京朝阳网点 已揽收", PickedUp, None),
            (
                "【广州市】邮政快递包裹 广州天河营业部 已揽收",
                PickedUp,
                None,
            ),
            (
                "快件已到达【杭州转运中心】",
                InTransit,
                Some("杭州转运中心"),
            ),
            (
                "快件已到达【上海分拨中心】",
                InTransit,
                Some("上海分拨中心"),
            ),
            (
                "快件已到达【广州集散中心】",
                InTransit,
                Some("广州集散中心"),
            ),
            (
                "快件离开【杭州转运中心】，已发往【上海分拨中心】",
                InTransit,
                None,
            ),
            (
                "快件离开【上海分拨中心】，已发往【上海浦东张江营业部】",
                InTransit,
                None,
            ),
            (
                "【上海市】快件已到达【上海浦东张江营业部】",
                ArrivedAtDestinationCity,
                None,
            ),
            (
                "【上海市】快件已到达【上海浦东网点】",
                ArrivedAtDestinationCity,
                None,
            ),
            (
                "【上海市】派件员 张三（电话138****5678）正在为您派件",
                OutForDelivery,
                None,
            ),
            (
                "快件已放入【丰巢智能柜12号柜】，请凭取件码及时取件",
                AwaitingCollection,
                None,
            ),
            (
                "快件已由【菜鸟驿站幸福里店】代收，请及时取件",
                AwaitingCollection,
                None,
            ),
            ("快件在驿站超时未取，请尽快取件", AwaitingCollection, None),
            ("已签收，签收人：本人", Delivered, None),
            ("已签收，签收人凭取件码签收", Delivered, None),
            ("快件派送失败，原因：电话无人接听", DeliveryFailed, None),
            (
                "派送不成功，收件人不在，将另约时间派送",
                DeliveryFailed,
                None,
            ),
            ("快件重新派送中，派件员 李四", OutForDelivery, None),
            (
                "收件地址不详，快件暂存【上海浦东张江营业部】",
                Exception,
                None,
            ),
            ("收件地址不详，快件暂存【上海浦东网点】", Exception, None),
            ("快件外包装破损，正在处理", Exception, None),
            ("快件错分，正在转运回正确网点", Exception, None),
            ("问题已处理，快件继续派送", InTransit, None),
            ("收件人拒收", Refused, None),
            ("快件已退回，正在返回寄件人", Returning, None),
            ("退回件到达【杭州转运中心】", Returning, None),
            ("退回件已签收，签收人：寄件人", Returned, None),
            ("已下单，等待揽收", Pending, None),
        ];
        for (text, status, hub) in cases {
            assert_eq!(
                classify_text(text),
                Some(Classified {
                    status: *status,
                    hub: hub.map(str::to_string)
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn hub_name_helper() {
        assert_eq!(
            hub_name("快件离开【杭州转运中心】"),
            Some("杭州转运中心".into())
        );
        assert_eq!(hub_name("快件到达"), None);
        assert!(is_departure("快件离开【杭州转运中心】"));
        assert!(!is_departure("快件已到达【杭州转运中心】"));
    }

    #[test]
    fn masking() {
        assert_eq!(mask_phones("13812345678"), "138****5678");
        assert_eq!(
            mask_phones("派件员 张三（电话13812345678）正在派件"),
            "派件员 张三（电话138****5678）正在派件"
        );
        assert_eq!(
            mask_phones("电话１３８１２３４５６７８"),
            "电话１３８****５６７８"
        );
        assert_eq!(mask_phones("取件码12345678"), "取件码123*5678");
        assert_eq!(mask_phones("1234567"), "123****");
        assert_eq!(mask_phones("123456 号柜"), "123456 号柜");
        assert_eq!(
            mask_phones("a13812345678b010-1234"),
            "a138****5678b010-1234"
        );
        assert_eq!(mask_phones(""), "");
        assert_eq!(
            mask_phones("1381234567813900001111"),
            "138***************1111"
        );
    }
}
