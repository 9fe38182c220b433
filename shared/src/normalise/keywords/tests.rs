//! Classification tests: every keyword group, the order between groups, hub
//! names, and the exact lines the simulator emits.

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
fn a_departure_names_its_next_stop() {
    for (text, next) in [
        (
            "快件离开【杭州转运中心】，已发往【乌鲁木齐转运中心】",
            Some("乌鲁木齐转运中心"),
        ),
        ("快件离开【杭州转运中心】已发往【兰州市】", Some("兰州市")),
        (
            "【广州市】快件已从【广州转运中心】发出，下一站【深圳转运中心】",
            Some("深圳转运中心"),
        ),
        (
            "快件在【杭州萧山中转场】完成分拣，准备发往 【 乌鲁木齐中转场 】",
            Some("乌鲁木齐中转场"),
        ),
        ("快件离开【杭州转运中心】", None),
        ("快件已到达【乌鲁木齐转运中心】", None),
        ("已发往【】", None),
        ("已发往【乌鲁木齐", None),
    ] {
        assert_eq!(next_stop(text), next, "{text}");
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
