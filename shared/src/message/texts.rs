//! The built-in wording of every rule: the ops sentence and the customer SMS
//! body, in both languages. Used when no `ALERT_TEMPLATE_<RULE>` /
//! `CUSTOMER_TEMPLATE_<RULE>` (or template file entry) replaces them; kept apart
//! from the code because it is copy, not logic.

use crate::domain::Rule;

use super::Language;

/// The built-in ops sentence of a rule.
pub(super) fn builtin_ops(rule: Rule, lang: Language) -> &'static str {
    match lang {
        Language::Zh => match rule {
            Rule::NoPickup => "自 {since} 发货后 {hours} 小时仍未揽收",
            Rule::Stalled => "自 {since} 起已 {hours} 小时没有新的物流轨迹",
            Rule::HubDwell => "自 {since} 到达中转中心后已滞留 {hours} 小时",
            Rule::OutForDeliveryStuck => "自 {since} 开始派件，{hours} 小时仍未签收",
            Rule::DeliveryFailed => "{since} 派送失败，尚未重新派送",
            Rule::Exception => "{since} 承运商报告问题件",
            Rule::Refused => "{since} 收件人拒收",
            Rule::Returned => "自 {since} 起快件退回寄件人",
            Rule::LockerUncollected => "自 {since} 放入快递柜/驿站，{hours} 小时未取件",
            Rule::Late => "承诺送达时间 {since} 已过 {hours} 小时，仍未签收",
            Rule::NoTrace => "自 {since} 登记后 {hours} 小时承运商仍无任何物流信息（单号可能有误）",
            Rule::PredictedLate => "按本线路的实际时效，自 {since} 起预计赶不上承诺送达时间",
            Rule::SlowLane => "自 {since} 起已 {hours} 小时没有新的物流轨迹，超过本线路这一段的常态",
        },
        Language::En => match rule {
            Rule::NoPickup => "Shipped at {since}, not picked up after {hours} h",
            Rule::Stalled => "No new trace for {hours} h since {since}",
            Rule::HubDwell => "Held at a transit hub for {hours} h since {since}",
            Rule::OutForDeliveryStuck => {
                "Out for delivery since {since}, not delivered after {hours} h"
            }
            Rule::DeliveryFailed => "Delivery failed at {since}, not yet re-attempted",
            Rule::Exception => "The carrier reported a problem parcel at {since}",
            Rule::Refused => "Refused by the recipient at {since}",
            Rule::Returned => "Being returned to the sender since {since}",
            Rule::LockerUncollected => {
                "In a locker/pickup station since {since}, not collected for {hours} h"
            }
            Rule::Late => "Promised delivery time {since} passed {hours} h ago, not delivered",
            Rule::NoTrace => {
                "Registered at {since}, the carrier has no trace after {hours} h (wrong number?)"
            }
            Rule::PredictedLate => {
                "Likely to miss its promised delivery time, judging by its lane's transit times (since {since})"
            }
            Rule::SlowLane => {
                "No new trace for {hours} h since {since}, longer than usual at this stage of its lane"
            }
        },
    }
}

/// The built-in customer SMS body of a rule (the shop signature is put in front).
pub(super) fn builtin_customer(rule: Rule, lang: Language) -> &'static str {
    match lang {
        Language::Zh => match rule {
            Rule::NoPickup => {
                "您好，您的{carrier}包裹（尾号{tail}）尚未揽收，我们已催促快递尽快揽收发出，敬请谅解。"
            }
            Rule::Stalled | Rule::HubDwell | Rule::SlowLane => {
                "您好，您的{carrier}包裹（尾号{tail}）运输有所延误，我们已联系快递公司加急处理，敬请谅解。"
            }
            Rule::OutForDeliveryStuck => {
                "您好，您的{carrier}包裹（尾号{tail}）派送有所延误，我们已联系快递员尽快送达，请保持电话畅通。"
            }
            Rule::DeliveryFailed => {
                "您好，快递员未能成功派送您的{carrier}包裹（尾号{tail}），将再次派送或与您联系，请保持电话畅通。"
            }
            Rule::Exception => {
                "您好，您的{carrier}包裹（尾号{tail}）运输中出现异常，我们正在与快递公司处理，有进展将及时通知您。"
            }
            Rule::Refused => {
                "您好，您的{carrier}包裹（尾号{tail}）显示已拒收，如非本人操作或需重新发货，请联系我们。"
            }
            Rule::Returned => {
                "您好，您的{carrier}包裹（尾号{tail}）正在退回，如需重新发货或有疑问，请联系我们。"
            }
            Rule::LockerUncollected => {
                "您好，您的{carrier}包裹（尾号{tail}）已在快递柜/驿站等候多时，请尽快取件，以免超时退回。"
            }
            Rule::Late => {
                "您好，您的{carrier}包裹（尾号{tail}）未能按时送达，我们已联系快递公司加急处理，敬请谅解。"
            }
            Rule::NoTrace => {
                "您好，您的{carrier}包裹（尾号{tail}）暂未查到物流信息，我们正在与快递公司核实，请耐心等待。"
            }
            Rule::PredictedLate => {
                "您好，您的{carrier}包裹（尾号{tail}）可能晚于承诺时间送达，我们已联系快递公司加急处理，敬请谅解。"
            }
        },
        Language::En => match rule {
            Rule::NoPickup => {
                "Your {carrier} parcel (no. ending {tail}) has not been picked up yet. We have asked the courier to collect it soon."
            }
            Rule::Stalled | Rule::HubDwell | Rule::SlowLane => {
                "Your {carrier} parcel (no. ending {tail}) is delayed. We have asked the carrier to hurry it. Sorry for the wait."
            }
            Rule::OutForDeliveryStuck => {
                "Your {carrier} parcel (no. ending {tail}) is out for delivery but running late. We have asked the courier to hurry."
            }
            Rule::DeliveryFailed => {
                "The courier could not deliver your {carrier} parcel (no. ending {tail}). They will try again or contact you."
            }
            Rule::Exception => {
                "There is a problem with your {carrier} parcel (no. ending {tail}). We are sorting it out with the carrier."
            }
            Rule::Refused => {
                "Your {carrier} parcel (no. ending {tail}) was refused. If this was not you, or you want it resent, contact us."
            }
            Rule::Returned => {
                "Your {carrier} parcel (no. ending {tail}) is being returned. Contact us if you would like it sent again."
            }
            Rule::LockerUncollected => {
                "Your {carrier} parcel (no. ending {tail}) is waiting in a locker/pickup station. Please collect it soon."
            }
            Rule::Late => {
                "Your {carrier} parcel (no. ending {tail}) is later than promised. We have asked the carrier to hurry it."
            }
            Rule::NoTrace => {
                "We cannot see tracking for your {carrier} parcel (no. ending {tail}) yet and are checking with the carrier."
            }
            Rule::PredictedLate => {
                "Your {carrier} parcel (no. ending {tail}) may arrive later than promised. We have asked the carrier to hurry it."
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Audience;
    use crate::message::template::Template;
    use crate::message::Templates;

    #[test]
    fn builtin_templates_all_parse_and_are_distinct_per_language() {
        for lang in [Language::Zh, Language::En] {
            for rule in Rule::ALL {
                for (src, aud) in [
                    (builtin_ops(rule, lang), Audience::Ops),
                    (builtin_customer(rule, lang), Audience::Customer),
                ] {
                    assert!(Template::parse(src, aud).is_ok(), "{lang:?} {rule}: {src}");
                }
            }
        }
        assert_ne!(Templates::builtin(Language::En), Templates::default());
    }
}
