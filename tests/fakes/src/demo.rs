//! The built-in demo: eight parcels whose timelines are relative to "now", one per
//! situation the early-warning rules care about, and fixed demo credentials.
//!
//! | number | carrier | situation |
//! |---|---|---|
//! | `YT8800000000001` | YTO | moving normally: picked up 10 h ago, left a hub 5 h ago |
//! | `73880000000002` | ZTO | delivered 2 h ago |
//! | `773880000000003` | STO | stalled: last trace 3 days ago |
//! | `4388000000004` | YD | failed delivery 5 h ago (派送失败，电话无人接听) |
//! | `JT8800000000005` | JTSD | refused 6 h ago (拒收) |
//! | `1188000000006` | EMS | stuck at a hub: arrival scan 30 h ago, nothing since |
//! | `SF8800000000007` | SF | out for delivery; queries need phone last 4 `1234` |
//! | `JDVA88000000008` | JD | registered 30 h ago, no traces at all |

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{Event, Parcel, Scenario};

/// Demo Kdniao `EBusinessID`.
pub const DEMO_KDNIAO_EBUSINESS_ID: &str = "test1234567";
/// Demo Kdniao AppKey.
pub const DEMO_KDNIAO_APP_KEY: &str = "fake-kdniao-key";
/// Demo Kuaidi100 customer.
pub const DEMO_KUAIDI100_CUSTOMER: &str = "FAKECUSTOMER";
/// Demo Kuaidi100 key.
pub const DEMO_KUAIDI100_KEY: &str = "fake-kuaidi100-key";

/// One demo parcel with the order data a shop would import.
#[derive(Clone, Debug)]
pub struct DemoParcel {
    /// The scripted timeline.
    pub parcel: Parcel,
    /// Shop order id.
    pub order_id: String,
    /// When it was handed over (RFC 3339, +08:00).
    pub shipped_at: String,
    /// Promised delivery (RFC 3339, +08:00).
    pub promised_at: String,
    /// Recipient phone, when the carrier needs it.
    pub phone: Option<String>,
}

/// China local wall-clock time (UTC+8, no daylight saving).
fn china(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    (t + TimeDelta::hours(8)).naive_utc()
}

/// The demo parcels, with times relative to `now`.
pub fn demo_parcels(now: DateTime<Utc>) -> Vec<DemoParcel> {
    let ago =
        |hours: i64, minutes: i64| now - TimeDelta::hours(hours) - TimeDelta::minutes(minutes);
    let at = |hours: i64, minutes: i64| {
        china(ago(hours, minutes))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let rfc = |t: DateTime<Utc>| format!("{}+08:00", china(t).format("%Y-%m-%dT%H:%M:%S"));
    let demo =
        |parcel: Parcel, i: u32, shipped_hours: i64, promised_days: i64, phone: Option<&str>| {
            let shipped = ago(shipped_hours, 0);
            DemoParcel {
                parcel,
                order_id: format!("DEMO-{i:04}"),
                shipped_at: rfc(shipped),
                promised_at: rfc(shipped + TimeDelta::days(promised_days)),
                phone: phone.map(str::to_string),
            }
        };
    vec![
        demo(
            Parcel::new("YTO", "YT8800000000001")
                .event(
                    Event::new(&at(10, 0), "【杭州市】浙江省杭州市萧山区公司 已揽收")
                        .at("杭州市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(
                        &at(9, 0),
                        "【杭州市】浙江省杭州市萧山区公司 已发出 下一站 浙江杭州转运中心",
                    )
                    .at("杭州市")
                    .codes("2", "0"),
                )
                .event(
                    Event::new(&at(7, 30), "【杭州市】快件已到达 浙江杭州转运中心")
                        .at("杭州市")
                        .codes("204", "1002"),
                )
                .event(
                    Event::new(
                        &at(5, 0),
                        "【杭州市】浙江杭州转运中心 已发出 下一站 上海转运中心",
                    )
                    .at("杭州市")
                    .codes("2", "1002"),
                ),
            1,
            11,
            3,
            None,
        ),
        demo(
            Parcel::new("ZTO", "73880000000002")
                .event(
                    Event::new(&at(50, 0), "【广州市】广州白云区公司 已揽收")
                        .at("广州市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(44, 0), "【广州市】快件已发往 上海中转部")
                        .at("广州市")
                        .codes("2", "0"),
                )
                .event(
                    Event::new(&at(20, 0), "【上海市】快件已到达 上海中转部")
                        .at("上海市")
                        .codes("204", "1002"),
                )
                .event(
                    Event::new(
                        &at(6, 0),
                        "【上海市】上海浦东新区公司 派件员：王师傅 正在为您派件",
                    )
                    .at("上海市")
                    .codes("202", "5"),
                )
                .event(
                    Event::new(
                        &at(2, 0),
                        "【上海市】快件已签收，签收人：本人，感谢使用中通快递",
                    )
                    .at("上海市")
                    .codes("301", "3"),
                ),
            2,
            52,
            3,
            None,
        ),
        demo(
            Parcel::new("STO", "773880000000003")
                .event(
                    Event::new(&at(120, 0), "【西安市】陕西西安公司 已揽收")
                        .at("西安市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(96, 0), "【西安市】快件已到达 西安转运中心")
                        .at("西安市")
                        .codes("204", "1002"),
                )
                .event(
                    Event::new(
                        &at(72, 0),
                        "【西安市】西安转运中心 已发出 下一站 成都转运中心",
                    )
                    .at("西安市")
                    .codes("2", "1002"),
                ),
            3,
            121,
            4,
            None,
        ),
        demo(
            Parcel::new("YD", "4388000000004")
                .event(
                    Event::new(&at(60, 0), "【南京市】江苏南京公司 已揽收")
                        .at("南京市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(40, 0), "【北京市】快件已到达 北京分拨中心")
                        .at("北京市")
                        .codes("204", "1002"),
                )
                .event(
                    Event::new(&at(24, 0), "【北京市】快件已到达 北京朝阳区公司")
                        .at("北京市")
                        .codes("201", "1001"),
                )
                .event(
                    Event::new(&at(8, 0), "【北京市】北京朝阳区公司 派件员 李师傅 正在派件")
                        .at("北京市")
                        .codes("202", "5"),
                )
                .event(
                    Event::new(&at(5, 0), "【北京市】派送失败，电话无人接听，快件滞留网点")
                        .at("北京市")
                        .codes("405", "2"),
                ),
            4,
            61,
            3,
            None,
        ),
        demo(
            Parcel::new("JTSD", "JT8800000000005")
                .event(
                    Event::new(&at(72, 0), "【义乌市】义乌网点 已揽收")
                        .at("义乌市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(48, 0), "【深圳市】快件已到达 深圳转运中心")
                        .at("深圳市")
                        .codes("204", "1002"),
                )
                .event(
                    Event::new(&at(10, 0), "【深圳市】深圳南山网点 快递员正在派件")
                        .at("深圳市")
                        .codes("202", "5"),
                )
                .event(
                    Event::new(&at(6, 0), "【深圳市】客户拒收，快件将退回寄件人")
                        .at("深圳市")
                        .codes("404", "14"),
                ),
            5,
            73,
            3,
            None,
        ),
        demo(
            Parcel::new("EMS", "1188000000006")
                .event(
                    Event::new(&at(50, 0), "【成都市】四川省成都市邮政营业部 已收寄")
                        .at("成都市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(40, 0), "【成都市】离开成都邮件处理中心 发往武汉")
                        .at("成都市")
                        .codes("2", "1002"),
                )
                .event(
                    Event::new(&at(30, 0), "【武汉市】到达武汉邮件处理中心（转运中心）")
                        .at("武汉市")
                        .codes("204", "1002"),
                ),
            6,
            51,
            4,
            None,
        ),
        demo(
            Parcel::new("SF", "SF8800000000007")
                .phone_last4("1234")
                .event(
                    Event::new(&at(20, 0), "【深圳市】顺丰速运 已收取快件")
                        .at("深圳市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new(&at(12, 0), "【深圳市】快件已发车，下一站 广州集散中心")
                        .at("深圳市")
                        .codes("2", "0"),
                )
                .event(
                    Event::new(
                        &at(2, 0),
                        "【广州市】快件交给陈师傅，正在派送途中（联系电话：13800000000）",
                    )
                    .at("广州市")
                    .codes("202", "5"),
                ),
            7,
            21,
            2,
            Some("13800001234"),
        ),
        demo(Parcel::new("JD", "JDVA88000000008"), 8, 30, 3, None),
    ]
}

/// The demo parcels as a [`Scenario`].
pub fn demo_scenario(now: DateTime<Utc>) -> Scenario {
    demo_parcels(now).into_iter().map(|d| d.parcel).collect()
}

/// The demo parcels as the CSV a shop imports (header
/// `carrier,tracking_number,order_id,shipped_at,promised_at,phone`).
pub fn demo_csv(now: DateTime<Utc>) -> String {
    let mut out = String::from("carrier,tracking_number,order_id,shipped_at,promised_at,phone\n");
    for d in demo_parcels(now) {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            d.parcel.carrier,
            d.parcel.number,
            d.order_id,
            d.shipped_at,
            d.promised_at,
            d.phone.unwrap_or_default()
        ));
    }
    out
}
