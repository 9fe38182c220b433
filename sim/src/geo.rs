//! Static geography for the simulator: cities with province, region, hubs and
//! delivery stations, the lane classes between them, and the carriers' shares and
//! names. Everything is `'static` so events can refer to places by small indices.

/// A broad Chinese region (华东, 华南...): the core's. Two cities in the same
/// region but not the same province form a "regional" lane.
pub use shared::places::Region;

/// City `index` of [`CITIES`] as a registration names it ("浙江义乌市", "上海市").
pub fn place(index: u8) -> Option<shared::places::Place> {
    let c = CITIES.get(index as usize)?;
    let text = if c.province == c.name {
        format!("{}市", c.name)
    } else {
        format!("{}{}市", c.province, c.name)
    };
    shared::places::Place::parse(&text)
}

/// One city of the simulated network.
#[derive(Debug)]
pub struct City {
    pub name: &'static str,
    pub province: &'static str,
    pub region: Region,
    /// Xinjiang, Xizang, Qinghai, Inner Mongolia: lanes into them are "remote".
    pub remote: bool,
    /// Relative weight as a shipping origin (e-commerce regions dominate).
    pub origin_weight: u32,
    /// Relative weight as a destination (roughly population).
    pub dest_weight: u32,
    /// Sorting hubs; every name ends with 转运中心, 分拨中心 or 集散中心.
    pub hubs: &'static [&'static str],
    /// Delivery stations; every name ends with 营业部 or 网点.
    pub stations: &'static [&'static str],
    /// Whether the city is a national line-haul hub that parcels may transit.
    pub transit: bool,
}

macro_rules! city {
    ($name:expr, $prov:expr, $region:ident, $remote:expr, $ow:expr, $dw:expr, $transit:expr,
     [$($hub:expr),+], [$($st:expr),+]) => {
        City {
            name: $name,
            province: $prov,
            region: Region::$region,
            remote: $remote,
            origin_weight: $ow,
            dest_weight: $dw,
            hubs: &[$($hub),+],
            stations: &[$($st),+],
            transit: $transit,
        }
    };
}

/// The cities. Origins are weighted towards the e-commerce shipping provinces
/// (浙江, 广东, 江苏, 上海, 福建); remote cities are never origins.
pub static CITIES: &[City] = &[
    city!(
        "上海",
        "上海",
        HuaDong,
        false,
        10,
        10,
        true,
        ["上海分拨中心", "上海青浦转运中心"],
        ["上海徐汇营业部", "上海浦东张江网点"]
    ),
    city!(
        "杭州",
        "浙江",
        HuaDong,
        false,
        12,
        6,
        true,
        ["杭州转运中心", "杭州萧山分拨中心"],
        ["杭州西湖营业部", "杭州滨江网点"]
    ),
    city!(
        "宁波",
        "浙江",
        HuaDong,
        false,
        5,
        3,
        false,
        ["宁波转运中心"],
        ["宁波鄞州营业部"]
    ),
    city!(
        "义乌",
        "浙江",
        HuaDong,
        false,
        8,
        1,
        false,
        ["义乌分拨中心"],
        ["义乌稠城网点"]
    ),
    city!(
        "温州",
        "浙江",
        HuaDong,
        false,
        3,
        3,
        false,
        ["温州转运中心"],
        ["温州鹿城营业部"]
    ),
    city!(
        "南京",
        "江苏",
        HuaDong,
        false,
        4,
        5,
        true,
        ["南京转运中心"],
        ["南京鼓楼营业部", "南京江宁网点"]
    ),
    city!(
        "苏州",
        "江苏",
        HuaDong,
        false,
        6,
        5,
        false,
        ["苏州分拨中心"],
        ["苏州工业园区营业部"]
    ),
    city!(
        "常熟",
        "江苏",
        HuaDong,
        false,
        2,
        1,
        false,
        ["常熟集散中心"],
        ["常熟虞山网点"]
    ),
    city!(
        "无锡",
        "江苏",
        HuaDong,
        false,
        3,
        3,
        false,
        ["无锡转运中心"],
        ["无锡梁溪营业部"]
    ),
    city!(
        "合肥",
        "安徽",
        HuaDong,
        false,
        1,
        4,
        false,
        ["合肥转运中心"],
        ["合肥蜀山营业部"]
    ),
    city!(
        "福州",
        "福建",
        HuaDong,
        false,
        2,
        3,
        false,
        ["福州转运中心"],
        ["福州鼓楼营业部"]
    ),
    city!(
        "厦门",
        "福建",
        HuaDong,
        false,
        3,
        2,
        false,
        ["厦门分拨中心"],
        ["厦门思明营业部"]
    ),
    city!(
        "泉州",
        "福建",
        HuaDong,
        false,
        4,
        3,
        false,
        ["泉州转运中心"],
        ["泉州晋江网点"]
    ),
    city!(
        "济南",
        "山东",
        HuaDong,
        false,
        1,
        4,
        true,
        ["济南转运中心"],
        ["济南历下营业部"]
    ),
    city!(
        "青岛",
        "山东",
        HuaDong,
        false,
        2,
        4,
        false,
        ["青岛集散中心"],
        ["青岛市南营业部"]
    ),
    city!(
        "广州",
        "广东",
        HuaNan,
        false,
        12,
        9,
        true,
        ["广州白云集散中心", "广州花都转运中心"],
        ["广州天河营业部", "广州番禺网点"]
    ),
    city!(
        "深圳",
        "广东",
        HuaNan,
        false,
        10,
        9,
        true,
        ["深圳分拨中心", "深圳龙华转运中心"],
        ["深圳南山营业部", "深圳宝安网点"]
    ),
    city!(
        "东莞",
        "广东",
        HuaNan,
        false,
        5,
        4,
        false,
        ["东莞转运中心"],
        ["东莞长安网点"]
    ),
    city!(
        "佛山",
        "广东",
        HuaNan,
        false,
        3,
        4,
        false,
        ["佛山分拨中心"],
        ["佛山南海营业部"]
    ),
    city!(
        "南宁",
        "广西",
        HuaNan,
        false,
        0,
        4,
        false,
        ["南宁转运中心"],
        ["南宁青秀营业部"]
    ),
    city!(
        "北京",
        "北京",
        HuaBei,
        false,
        2,
        10,
        true,
        ["北京分拨中心", "北京顺义转运中心"],
        ["北京朝阳营业部", "北京海淀网点"]
    ),
    city!(
        "天津",
        "天津",
        HuaBei,
        false,
        1,
        6,
        false,
        ["天津转运中心"],
        ["天津和平营业部"]
    ),
    city!(
        "石家庄",
        "河北",
        HuaBei,
        false,
        1,
        4,
        false,
        ["石家庄转运中心"],
        ["石家庄长安营业部"]
    ),
    city!(
        "唐山",
        "河北",
        HuaBei,
        false,
        1,
        3,
        false,
        ["唐山分拨中心"],
        ["唐山路北网点"]
    ),
    city!(
        "郑州",
        "河南",
        HuaZhong,
        false,
        1,
        6,
        true,
        ["郑州集散中心"],
        ["郑州金水营业部"]
    ),
    city!(
        "武汉",
        "湖北",
        HuaZhong,
        false,
        1,
        6,
        true,
        ["武汉转运中心"],
        ["武汉江汉营业部"]
    ),
    city!(
        "长沙",
        "湖南",
        HuaZhong,
        false,
        1,
        5,
        true,
        ["长沙转运中心"],
        ["长沙岳麓营业部"]
    ),
    city!(
        "成都",
        "四川",
        XiNan,
        false,
        1,
        8,
        true,
        ["成都转运中心", "成都双流分拨中心"],
        ["成都锦江营业部", "成都高新网点"]
    ),
    city!(
        "重庆",
        "重庆",
        XiNan,
        false,
        1,
        7,
        false,
        ["重庆转运中心"],
        ["重庆渝北营业部"]
    ),
    city!(
        "昆明",
        "云南",
        XiNan,
        false,
        0,
        4,
        false,
        ["昆明转运中心"],
        ["昆明五华营业部"]
    ),
    city!(
        "西安",
        "陕西",
        XiBei,
        false,
        1,
        6,
        true,
        ["西安转运中心"],
        ["西安雁塔营业部"]
    ),
    city!(
        "沈阳",
        "辽宁",
        DongBei,
        false,
        1,
        5,
        false,
        ["沈阳转运中心"],
        ["沈阳和平营业部"]
    ),
    city!(
        "哈尔滨",
        "黑龙江",
        DongBei,
        false,
        0,
        4,
        false,
        ["哈尔滨分拨中心"],
        ["哈尔滨南岗营业部"]
    ),
    city!(
        "乌鲁木齐",
        "新疆",
        XiBei,
        true,
        0,
        3,
        false,
        ["乌鲁木齐转运中心"],
        ["乌鲁木齐天山营业部"]
    ),
    city!(
        "拉萨",
        "西藏",
        XiNan,
        true,
        0,
        1,
        false,
        ["拉萨分拨中心"],
        ["拉萨城关营业部"]
    ),
    city!(
        "西宁",
        "青海",
        XiBei,
        true,
        0,
        2,
        false,
        ["西宁转运中心"],
        ["西宁城中营业部"]
    ),
    city!(
        "呼和浩特",
        "内蒙古",
        HuaBei,
        true,
        0,
        2,
        false,
        ["呼和浩特转运中心"],
        ["呼和浩特新城营业部"]
    ),
];

/// The lane classes of the published transit figures (the core's, which also
/// holds their median and spread, fleet-facts point 1).
pub use shared::places::LaneClass;

/// The lane class of an (origin, destination) pair of the simulated cities,
/// which sets the transit-time distribution.
pub fn lane_class(origin: usize, dest: usize) -> LaneClass {
    let (o, d) = (&CITIES[origin], &CITIES[dest]);
    if origin == dest {
        LaneClass::SameCity
    } else if d.remote {
        LaneClass::Remote
    } else if o.province == d.province {
        LaneClass::SameProvince
    } else if o.region == d.region {
        LaneClass::Regional
    } else {
        LaneClass::CrossCountry
    }
}

/// What the simulator needs of a lane class beyond its transit time.
pub trait LaneShape {
    /// How many sorting hubs a parcel passes through, inclusive range (point 3).
    fn hub_range(self) -> (usize, usize);
    /// Share of parcels on this lane class. Same-city parcels are outside the SPB
    /// sample; we give them 10% and split the rest with the cross-city mix of
    /// point 1 (0.30 / 0.26 / 0.40 / 0.04).
    fn weight(self) -> f64;
}

impl LaneShape for LaneClass {
    fn hub_range(self) -> (usize, usize) {
        match self {
            LaneClass::SameCity => (1, 1),
            LaneClass::SameProvince => (1, 2),
            LaneClass::Regional => (2, 2),
            LaneClass::CrossCountry => (2, 3),
            LaneClass::Remote => (3, 4),
        }
    }

    fn weight(self) -> f64 {
        match self {
            LaneClass::SameCity => 0.10,
            LaneClass::SameProvince => 0.90 * 0.30,
            LaneClass::Regional => 0.90 * 0.26,
            LaneClass::CrossCountry => 0.90 * 0.40,
            LaneClass::Remote => 0.90 * 0.04,
        }
    }
}

/// One carrier of the simulated fleet.
#[derive(Debug)]
pub struct CarrierInfo {
    /// Kdniao's upper-case code (the `ShipmentId` carrier).
    pub code: &'static str,
    /// Kuaidi100's `com` code.
    pub kuaidi100: &'static str,
    pub name_zh: &'static str,
    /// Share of parcels (fleet-facts A5, rounded, low confidence for the tail).
    pub share: f64,
    /// Multiplier on the lane's median time (point 1: SF/JD about 0.75, EMS 1.2).
    pub speed: f64,
}

pub static CARRIERS: &[CarrierInfo] = &[
    CarrierInfo {
        code: "ZTO",
        kuaidi100: "zhongtong",
        name_zh: "中通快递",
        share: 0.20,
        speed: 1.0,
    },
    CarrierInfo {
        code: "YTO",
        kuaidi100: "yuantong",
        name_zh: "圆通速递",
        share: 0.16,
        speed: 1.0,
    },
    CarrierInfo {
        code: "YD",
        kuaidi100: "yunda",
        name_zh: "韵达快递",
        share: 0.14,
        speed: 1.0,
    },
    CarrierInfo {
        code: "JTSD",
        kuaidi100: "jtexpress",
        name_zh: "极兔速递",
        share: 0.14,
        speed: 1.0,
    },
    CarrierInfo {
        code: "STO",
        kuaidi100: "shentong",
        name_zh: "申通快递",
        share: 0.13,
        speed: 1.0,
    },
    CarrierInfo {
        code: "SF",
        kuaidi100: "shunfeng",
        name_zh: "顺丰速运",
        share: 0.09,
        speed: 0.75,
    },
    CarrierInfo {
        code: "JD",
        kuaidi100: "jd",
        name_zh: "京东物流",
        share: 0.07,
        speed: 0.75,
    },
    CarrierInfo {
        code: "EMS",
        kuaidi100: "ems",
        name_zh: "EMS",
        share: 0.07,
        speed: 1.2,
    },
];

/// The carrier with Kdniao code `code`.
pub fn carrier_by_code(code: &str) -> Option<&'static CarrierInfo> {
    CARRIERS.iter().find(|c| c.code == code)
}

/// Couriers' names for 派件 texts.
pub static COURIERS: &[&str] = &[
    "张伟", "王磊", "李强", "刘洋", "陈杰", "杨勇", "赵军", "黄涛", "周鹏", "吴斌", "徐超", "孙浩",
    "马林", "朱峰", "胡明", "郭亮",
];

/// Community names for 菜鸟驿站 texts.
pub static STATION_SHOPS: &[&str] = &[
    "阳光花园",
    "幸福里",
    "锦绣家园",
    "翠苑",
    "金色港湾",
    "桂花园",
    "南苑小区",
    "东方花园",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_city_reads_as_its_province_and_city() {
        for (i, c) in CITIES.iter().enumerate() {
            let p = place(i as u8).unwrap_or_else(|| panic!("{}", c.name));
            assert_eq!(p.city.as_deref(), Some(c.name));
            assert_eq!(p.province.as_deref(), Some(c.province), "{}", c.name);
        }
        assert_eq!(place(u8::MAX), None);
    }

    #[test]
    fn tables_are_well_formed() {
        assert!(CITIES.len() >= 30 && CITIES.len() < 255);
        for c in CITIES {
            assert!(!c.hubs.is_empty() && c.hubs.len() <= 2, "{}", c.name);
            assert!(
                !c.stations.is_empty() && c.stations.len() <= 2,
                "{}",
                c.name
            );
            for h in c.hubs {
                assert!(
                    h.ends_with("转运中心") || h.ends_with("分拨中心") || h.ends_with("集散中心"),
                    "{h}"
                );
            }
            for s in c.stations {
                assert!(s.ends_with("营业部") || s.ends_with("网点"), "{s}");
            }
            if c.remote {
                assert_eq!(c.origin_weight, 0, "{}", c.name);
            }
        }
        let total: f64 = CARRIERS.iter().map(|c| c.share).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let lanes: f64 = LaneClass::ALL.iter().map(|l| l.weight()).sum();
        assert!((lanes - 1.0).abs() < 1e-9);
    }

    #[test]
    fn lane_classes() {
        let idx = |n: &str| CITIES.iter().position(|c| c.name == n).unwrap();
        assert_eq!(lane_class(idx("杭州"), idx("杭州")), LaneClass::SameCity);
        assert_eq!(
            lane_class(idx("杭州"), idx("宁波")),
            LaneClass::SameProvince
        );
        assert_eq!(lane_class(idx("杭州"), idx("上海")), LaneClass::Regional);
        assert_eq!(
            lane_class(idx("杭州"), idx("北京")),
            LaneClass::CrossCountry
        );
        assert_eq!(lane_class(idx("杭州"), idx("拉萨")), LaneClass::Remote);
    }
}
