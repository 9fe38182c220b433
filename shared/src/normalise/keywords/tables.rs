//! The keyword tables, one per group of the classification order described in
//! the parent module. Kept apart from the matching logic so that adding a
//! carrier's wording is an edit here and the order of checks stays untouched.

/// Kdniao's time judgements, removed before matching.
pub(super) const JUDGEMENTS: &[&str] = &["超时未签收", "超时未更新"];

pub(super) const RETURNED: &[&str] = &[
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
pub(super) const RETURN_ITEMS: &[&str] = &["退回件", "退件", "退货件", "退回快件", "退回的快件"];
/// ... that has been signed for.
pub(super) const SIGNED: &[&str] = &["已签收", "签收人", "签收成功"];

pub(super) const REFUSED: &[&str] = &["拒收", "拒签", "拒绝签收", "拒绝接收"];

pub(super) const RETURNING: &[&str] = &[
    "退回",
    "退件",
    "退货",
    "返回寄件人",
    "原路返回",
    "退回中",
    "已安排退回",
];

pub(super) const DELIVERED: &[&str] = &[
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
pub(super) const NOT_DELIVERED: &[&str] = &["未妥投", "无法妥投"];

pub(super) const EXCEPTION: &[&str] = &[
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
pub(super) const WEAK_EXCEPTION: &[&str] = &["滞留", "无法派送"];

pub(super) const AWAITING_COLLECTION: &[&str] = &[
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

pub(super) const DELIVERY_FAILED: &[&str] = &[
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

pub(super) const PENDING: &[&str] = &[
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

pub(super) const PICKED_UP: &[&str] = &[
    "揽收",
    "揽件",
    "已收件",
    "收寄",
    "已收取快件",
    "收件成功",
    "已揽",
];

pub(super) const OUT_FOR_DELIVERY: &[&str] = &[
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
pub(super) const RESUMED: &[&str] = &[
    "问题已处理",
    "异常已处理",
    "异常已解除",
    "继续派送",
    "继续运输",
    "继续转运",
];

pub(super) const DESTINATION_CITY: &[&str] = &["到达派件城市", "到达目的地", "到达目的城市"];

pub(super) const CUSTOMS: &[&str] = &["清关", "海关", "报关", "入境", "出境"];

pub(super) const REDIRECTED: &[&str] = &["转寄", "转投", "改寄", "更址"];

/// Sorting hubs and transit centres.
pub(super) const HUB: &[&str] = &[
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
pub(super) const HUB_ARRIVAL: &[&str] = &[
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
pub(super) const DEPARTURE: &[&str] = &[
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
pub(super) const STATION: &[&str] = &[
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
pub(super) const STATION_ARRIVAL: &[&str] = &["到达", "到", "抵达"];

/// Departure or transport without a place of arrival.
pub(super) const TRANSPORT: &[&str] = &[
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
pub(super) const NAME_STOPS: &[&str] = &["到达", "抵达", "到", "在", "进入", "于"];
