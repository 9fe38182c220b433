//! Places: the provinces of China and their prefecture-level cities, and reading
//! a place out of what people and carriers write ("杭州", "浙江省杭州市",
//! Kuaidi100's `areaName` "浙江,杭州市", a trace's "【杭州市】"). Lanes are keyed by
//! city and fall back to provinces (`lanes`), so a city this table does not know
//! still makes a lane of its own; only the province fallback needs the table.

use serde::{Deserialize, Serialize};

/// A broad region of China (华东, 华南, ...). Two provinces of one region make a
/// regional lane; across regions, a cross-country one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    HuaDong,
    HuaNan,
    HuaBei,
    HuaZhong,
    XiNan,
    XiBei,
    DongBei,
}

/// A province-level division: its short name (the key), the suffix of its full
/// name, its region, whether lanes into it are remote (long line hauls, few
/// flights), and its prefecture-level cities (short names).
struct Province {
    name: &'static str,
    suffix: &'static str,
    region: Region,
    remote: bool,
    cities: &'static [&'static str],
}

impl Region {
    pub fn label_zh(self) -> &'static str {
        match self {
            Region::HuaDong => "华东",
            Region::HuaNan => "华南",
            Region::HuaBei => "华北",
            Region::HuaZhong => "华中",
            Region::XiNan => "西南",
            Region::XiBei => "西北",
            Region::DongBei => "东北",
        }
    }
}

use Region::*;

const PROVINCES: &[Province] = &[
    Province {
        name: "北京",
        suffix: "市",
        region: HuaBei,
        remote: false,
        cities: &["北京"],
    },
    Province {
        name: "天津",
        suffix: "市",
        region: HuaBei,
        remote: false,
        cities: &["天津"],
    },
    Province {
        name: "上海",
        suffix: "市",
        region: HuaDong,
        remote: false,
        cities: &["上海"],
    },
    Province {
        name: "重庆",
        suffix: "市",
        region: XiNan,
        remote: false,
        cities: &["重庆"],
    },
    Province {
        name: "河北",
        suffix: "省",
        region: HuaBei,
        remote: false,
        cities: &[
            "石家庄",
            "唐山",
            "秦皇岛",
            "邯郸",
            "邢台",
            "保定",
            "张家口",
            "承德",
            "沧州",
            "廊坊",
            "衡水",
        ],
    },
    Province {
        name: "山西",
        suffix: "省",
        region: HuaBei,
        remote: false,
        cities: &[
            "太原", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城", "忻州", "临汾", "吕梁",
        ],
    },
    Province {
        name: "内蒙古",
        suffix: "自治区",
        region: HuaBei,
        remote: true,
        cities: &[
            "呼和浩特",
            "包头",
            "乌海",
            "赤峰",
            "通辽",
            "鄂尔多斯",
            "呼伦贝尔",
            "巴彦淖尔",
            "乌兰察布",
            "兴安",
            "锡林郭勒",
            "阿拉善",
        ],
    },
    Province {
        name: "辽宁",
        suffix: "省",
        region: DongBei,
        remote: false,
        cities: &[
            "沈阳",
            "大连",
            "鞍山",
            "抚顺",
            "本溪",
            "丹东",
            "锦州",
            "营口",
            "阜新",
            "辽阳",
            "盘锦",
            "铁岭",
            "朝阳",
            "葫芦岛",
        ],
    },
    Province {
        name: "吉林",
        suffix: "省",
        region: DongBei,
        remote: false,
        cities: &[
            "长春", "吉林", "四平", "辽源", "通化", "白山", "松原", "白城", "延边",
        ],
    },
    Province {
        name: "黑龙江",
        suffix: "省",
        region: DongBei,
        remote: false,
        cities: &[
            "哈尔滨",
            "齐齐哈尔",
            "鸡西",
            "鹤岗",
            "双鸭山",
            "大庆",
            "伊春",
            "佳木斯",
            "七台河",
            "牡丹江",
            "黑河",
            "绥化",
            "大兴安岭",
        ],
    },
    Province {
        name: "江苏",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "南京",
            "无锡",
            "徐州",
            "常州",
            "苏州",
            "南通",
            "连云港",
            "淮安",
            "盐城",
            "扬州",
            "镇江",
            "泰州",
            "宿迁",
        ],
    },
    Province {
        name: "浙江",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水",
        ],
    },
    Province {
        name: "安徽",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "合肥",
            "芜湖",
            "蚌埠",
            "淮南",
            "马鞍山",
            "淮北",
            "铜陵",
            "安庆",
            "黄山",
            "滁州",
            "阜阳",
            "宿州",
            "六安",
            "亳州",
            "池州",
            "宣城",
        ],
    },
    Province {
        name: "福建",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "福州", "厦门", "莆田", "三明", "泉州", "漳州", "南平", "龙岩", "宁德",
        ],
    },
    Province {
        name: "江西",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "南昌",
            "景德镇",
            "萍乡",
            "九江",
            "新余",
            "鹰潭",
            "赣州",
            "吉安",
            "宜春",
            "抚州",
            "上饶",
        ],
    },
    Province {
        name: "山东",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &[
            "济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照",
            "临沂", "德州", "聊城", "滨州", "菏泽",
        ],
    },
    Province {
        name: "河南",
        suffix: "省",
        region: HuaZhong,
        remote: false,
        cities: &[
            "郑州",
            "开封",
            "洛阳",
            "平顶山",
            "安阳",
            "鹤壁",
            "新乡",
            "焦作",
            "濮阳",
            "许昌",
            "漯河",
            "三门峡",
            "南阳",
            "商丘",
            "信阳",
            "周口",
            "驻马店",
            "济源",
        ],
    },
    Province {
        name: "湖北",
        suffix: "省",
        region: HuaZhong,
        remote: false,
        cities: &[
            "武汉",
            "黄石",
            "十堰",
            "宜昌",
            "襄阳",
            "鄂州",
            "荆门",
            "孝感",
            "荆州",
            "黄冈",
            "咸宁",
            "随州",
            "恩施",
            "仙桃",
            "潜江",
            "天门",
            "神农架",
        ],
    },
    Province {
        name: "湖南",
        suffix: "省",
        region: HuaZhong,
        remote: false,
        cities: &[
            "长沙",
            "株洲",
            "湘潭",
            "衡阳",
            "邵阳",
            "岳阳",
            "常德",
            "张家界",
            "益阳",
            "郴州",
            "永州",
            "怀化",
            "娄底",
            "湘西",
        ],
    },
    Province {
        name: "广东",
        suffix: "省",
        region: HuaNan,
        remote: false,
        cities: &[
            "广州", "韶关", "深圳", "珠海", "汕头", "佛山", "江门", "湛江", "茂名", "肇庆", "惠州",
            "梅州", "汕尾", "河源", "阳江", "清远", "东莞", "中山", "潮州", "揭阳", "云浮",
        ],
    },
    Province {
        name: "广西",
        suffix: "壮族自治区",
        region: HuaNan,
        remote: false,
        cities: &[
            "南宁",
            "柳州",
            "桂林",
            "梧州",
            "北海",
            "防城港",
            "钦州",
            "贵港",
            "玉林",
            "百色",
            "贺州",
            "河池",
            "来宾",
            "崇左",
        ],
    },
    Province {
        name: "海南",
        suffix: "省",
        region: HuaNan,
        remote: false,
        cities: &[
            "海口",
            "三亚",
            "三沙",
            "儋州",
            "琼海",
            "文昌",
            "万宁",
            "五指山",
            "东方",
        ],
    },
    Province {
        name: "四川",
        suffix: "省",
        region: XiNan,
        remote: false,
        cities: &[
            "成都",
            "自贡",
            "攀枝花",
            "泸州",
            "德阳",
            "绵阳",
            "广元",
            "遂宁",
            "内江",
            "乐山",
            "南充",
            "眉山",
            "宜宾",
            "广安",
            "达州",
            "雅安",
            "巴中",
            "资阳",
            "阿坝",
            "甘孜",
            "凉山",
        ],
    },
    Province {
        name: "贵州",
        suffix: "省",
        region: XiNan,
        remote: false,
        cities: &[
            "贵阳",
            "六盘水",
            "遵义",
            "安顺",
            "毕节",
            "铜仁",
            "黔西南",
            "黔东南",
            "黔南",
        ],
    },
    Province {
        name: "云南",
        suffix: "省",
        region: XiNan,
        remote: false,
        cities: &[
            "昆明",
            "曲靖",
            "玉溪",
            "保山",
            "昭通",
            "丽江",
            "普洱",
            "临沧",
            "楚雄",
            "红河",
            "文山",
            "西双版纳",
            "大理",
            "德宏",
            "怒江",
            "迪庆",
        ],
    },
    Province {
        name: "西藏",
        suffix: "自治区",
        region: XiNan,
        remote: true,
        cities: &["拉萨", "日喀则", "昌都", "林芝", "山南", "那曲", "阿里"],
    },
    Province {
        name: "陕西",
        suffix: "省",
        region: XiBei,
        remote: false,
        cities: &[
            "西安", "铜川", "宝鸡", "咸阳", "渭南", "延安", "汉中", "榆林", "安康", "商洛",
        ],
    },
    Province {
        name: "甘肃",
        suffix: "省",
        region: XiBei,
        remote: false,
        cities: &[
            "兰州",
            "嘉峪关",
            "金昌",
            "白银",
            "天水",
            "武威",
            "张掖",
            "平凉",
            "酒泉",
            "庆阳",
            "定西",
            "陇南",
            "临夏",
            "甘南",
        ],
    },
    Province {
        name: "青海",
        suffix: "省",
        region: XiBei,
        remote: true,
        cities: &[
            "西宁",
            "海东",
            "海北",
            "黄南",
            "海南州",
            "果洛",
            "玉树",
            "海西",
        ],
    },
    Province {
        name: "宁夏",
        suffix: "回族自治区",
        region: XiBei,
        remote: false,
        cities: &["银川", "石嘴山", "吴忠", "固原", "中卫"],
    },
    Province {
        name: "新疆",
        suffix: "维吾尔自治区",
        region: XiBei,
        remote: true,
        cities: &[
            "乌鲁木齐",
            "克拉玛依",
            "吐鲁番",
            "哈密",
            "昌吉",
            "博尔塔拉",
            "巴音郭楞",
            "阿克苏",
            "克孜勒苏",
            "喀什",
            "和田",
            "伊犁",
            "塔城",
            "阿勒泰",
            "石河子",
        ],
    },
    Province {
        name: "香港",
        suffix: "特别行政区",
        region: HuaNan,
        remote: false,
        cities: &["香港"],
    },
    Province {
        name: "澳门",
        suffix: "特别行政区",
        region: HuaNan,
        remote: false,
        cities: &["澳门"],
    },
    Province {
        name: "台湾",
        suffix: "省",
        region: HuaDong,
        remote: false,
        cities: &["台北", "高雄", "台中", "台南"],
    },
];

/// Suffixes of city-level names, longest first ("自治州" before "州").
const CITY_SUFFIXES: [&str; 5] = ["自治州", "地区", "市", "盟", "州"];

/// A place as far as it is known: a city (short name, as this table or the text
/// gives it) and its province when known.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

fn province_named(name: &str) -> Option<&'static Province> {
    PROVINCES.iter().find(|p| p.name == name)
}

fn province_of_city(city: &str) -> Option<&'static Province> {
    PROVINCES
        .iter()
        .find(|p| p.cities.contains(&city))
        // A city named like its province's own prefecture (吉林 in 吉林).
        .or_else(|| province_named(city).filter(|p| p.cities.contains(&p.name)))
}

/// `text` without one of the city suffixes, if the rest is not empty.
fn strip_city_suffix(text: &str) -> &str {
    for s in CITY_SUFFIXES {
        if let Some(rest) = text.strip_suffix(s) {
            if rest.chars().count() >= 2 || (rest.chars().count() == 1 && s != "州") {
                return rest;
            }
        }
    }
    text
}

impl Place {
    /// Reads a place from free text: "杭州", "杭州市", "浙江省杭州市", "浙江,杭州市"
    /// (Kuaidi100's `areaName`), "浙江省 杭州市 余杭区", "上海市". `None` when it
    /// names neither a known province nor anything that looks like a city.
    pub fn parse(text: &str) -> Option<Place> {
        let text: String = text
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .replace(['，', ',', '/', '-', '|'], ",");
        if text.is_empty() {
            return None;
        }
        // An address: its start names the province and city.
        let text: String = text.chars().take(40).collect();
        // A known city by itself ("杭州", "杭州市", "吉林", "海南州").
        for name in [text.as_str(), strip_city_suffix(&text)] {
            if let Some(p) = province_of_city(name) {
                return Some(Place {
                    province: Some(p.name.to_string()),
                    city: Some(name.to_string()),
                });
            }
        }
        // Else a province first, with or without its suffix.
        let mut rest = text.as_str();
        let mut province = None;
        for p in PROVINCES {
            let full = format!("{}{}", p.name, p.suffix);
            for prefix in [full.as_str(), p.name] {
                if let Some(after) = rest.strip_prefix(prefix) {
                    province = Some(p);
                    rest = after.trim_start_matches(',');
                    break;
                }
            }
            if province.is_some() {
                break;
            }
        }
        // Then the city: up to its suffix, else the known city the text starts with.
        let city = city_prefix(rest).or_else(|| {
            province
                .filter(|p| p.cities.len() == 1)
                .map(|p| p.cities[0].to_string())
        });
        let province = province.or_else(|| city.as_deref().and_then(province_of_city));
        match (province, city) {
            (None, None) => None,
            (p, c) => Some(Place {
                province: p.map(|p| p.name.to_string()),
                city: c,
            }),
        }
    }

    /// The place named in a trace's text between 【】, if it is a city
    /// ("【杭州市】已揽收"); hub names in brackets (【杭州转运中心】) are not places.
    pub fn in_trace(text: &str) -> Option<Place> {
        let mut rest = text;
        while let Some(open) = rest.find('【') {
            let after = &rest[open + '【'.len_utf8()..];
            let close = after.find('】')?;
            let inner = &after[..close];
            if CITY_SUFFIXES.iter().any(|s| inner.ends_with(s)) || province_of_city(inner).is_some()
            {
                if let Some(p) = Place::parse(inner) {
                    return Some(p);
                }
            }
            rest = &after[close..];
        }
        None
    }

    /// The province's region, when the province is known.
    pub fn region(&self) -> Option<Region> {
        self.province
            .as_deref()
            .and_then(province_named)
            .map(|p| p.region)
    }

    /// Whether lanes into this place are remote (Xinjiang, Xizang, Qinghai, Inner
    /// Mongolia).
    pub fn is_remote(&self) -> bool {
        self.province
            .as_deref()
            .and_then(province_named)
            .is_some_and(|p| p.remote)
    }
}

/// The city at the start of `text`: a known city name, else the text up to the
/// first city suffix (a city this table does not know).
fn city_prefix(text: &str) -> Option<String> {
    let text = text.trim_start_matches(',');
    if text.is_empty() {
        return None;
    }
    // The longest known city the text starts with.
    let known = PROVINCES
        .iter()
        .flat_map(|p| p.cities.iter())
        .filter(|c| text.starts_with(**c))
        .max_by_key(|c| c.len());
    if let Some(c) = known {
        return Some((*c).to_string());
    }
    let first = text.split(',').next().unwrap_or(text);
    for s in CITY_SUFFIXES {
        if let Some(at) = first.find(s) {
            let name = strip_city_suffix(&first[..at + s.len()]);
            if name.chars().count() >= 2 && name.chars().all(is_han) {
                return Some(name.to_string());
            }
        }
    }
    None
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The kind of lane between two places, as the published transit figures are
/// given (fleet-facts, "What this means for the simulator", point 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneClass {
    SameCity,
    SameProvince,
    Regional,
    CrossCountry,
    Remote,
}

impl LaneClass {
    pub const ALL: [LaneClass; 5] = [
        LaneClass::SameCity,
        LaneClass::SameProvince,
        LaneClass::Regional,
        LaneClass::CrossCountry,
        LaneClass::Remote,
    ];

    /// The class of a lane, when both ends are known well enough to say.
    pub fn of(origin: &Place, destination: &Place) -> Option<LaneClass> {
        if destination.is_remote() {
            return Some(LaneClass::Remote);
        }
        if origin.city.is_some() && origin.city == destination.city {
            return Some(LaneClass::SameCity);
        }
        let (op, dp) = (origin.province.as_ref()?, destination.province.as_ref()?);
        if op == dp {
            return Some(LaneClass::SameProvince);
        }
        Some(if origin.region() == destination.region() {
            LaneClass::Regional
        } else {
            LaneClass::CrossCountry
        })
    }

    /// Median collection-to-delivery time in hours and the lognormal σ
    /// (fleet-facts point 1, calibrated on SPB's 2024 figures).
    pub fn median_sigma(self) -> (f64, f64) {
        match self {
            LaneClass::SameCity => (20.0, 0.35),
            LaneClass::SameProvince => (34.0, 0.35),
            LaneClass::Regional => (46.0, 0.35),
            LaneClass::CrossCountry => (60.0, 0.25),
            LaneClass::Remote => (120.0, 0.35),
        }
    }

    /// How a Chinese reader names it.
    pub fn zh(self) -> &'static str {
        match self {
            LaneClass::SameCity => "同城",
            LaneClass::SameProvince => "省内",
            LaneClass::Regional => "邻省",
            LaneClass::CrossCountry => "跨区域",
            LaneClass::Remote => "偏远地区",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LaneClass::SameCity => "same_city",
            LaneClass::SameProvince => "same_province",
            LaneClass::Regional => "regional",
            LaneClass::CrossCountry => "cross_country",
            LaneClass::Remote => "remote",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(province: Option<&str>, city: Option<&str>) -> Option<Place> {
        Some(Place {
            province: province.map(str::to_string),
            city: city.map(str::to_string),
        })
    }

    #[test]
    fn what_people_and_carriers_write_reads_as_a_place() {
        let hz = place(Some("浙江"), Some("杭州"));
        for text in [
            "杭州",
            "杭州市",
            "浙江省杭州市",
            "浙江,杭州市",
            "浙江省 杭州市 余杭区",
            "浙江杭州",
        ] {
            assert_eq!(Place::parse(text), hz, "{text}");
        }
        assert_eq!(Place::parse("上海市"), place(Some("上海"), Some("上海")));
        assert_eq!(
            Place::parse("上海市青浦区"),
            place(Some("上海"), Some("上海"))
        );
        assert_eq!(
            Place::parse("新疆维吾尔自治区乌鲁木齐市"),
            place(Some("新疆"), Some("乌鲁木齐"))
        );
        assert_eq!(Place::parse("广东"), place(Some("广东"), None));
        assert_eq!(
            Place::parse("吉林省吉林市"),
            place(Some("吉林"), Some("吉林"))
        );
        assert_eq!(
            Place::parse("延边朝鲜族自治州"),
            place(Some("吉林"), Some("延边"))
        );
        // A city the table does not know is still a city, without a province.
        assert_eq!(Place::parse("某某市"), place(None, Some("某某")));
        for nothing in ["", "   ", "N/A", "12345", "转运中心"] {
            assert_eq!(Place::parse(nothing), None, "{nothing}");
        }
    }

    #[test]
    fn a_trace_names_its_city_in_brackets_but_not_its_hub() {
        assert_eq!(
            Place::in_trace("【杭州市】浙江杭州余杭公司 已揽收"),
            place(Some("浙江"), Some("杭州"))
        );
        assert_eq!(Place::in_trace("快件已到达【杭州转运中心】"), None);
        assert_eq!(
            Place::in_trace("快件离开【杭州转运中心】已发往【乌鲁木齐市】"),
            place(Some("新疆"), Some("乌鲁木齐"))
        );
        assert_eq!(
            Place::in_trace("【深圳】派件中"),
            place(Some("广东"), Some("深圳"))
        );
        assert_eq!(Place::in_trace("已签收，签收人：本人"), None);
        assert_eq!(Place::in_trace("【未闭合"), None);
    }

    #[test]
    fn lane_classes_follow_provinces_and_regions() {
        let p = |t: &str| Place::parse(t).unwrap();
        let class = |a: &str, b: &str| LaneClass::of(&p(a), &p(b));
        assert_eq!(class("杭州", "杭州"), Some(LaneClass::SameCity));
        assert_eq!(class("杭州", "宁波"), Some(LaneClass::SameProvince));
        assert_eq!(class("杭州", "南京"), Some(LaneClass::Regional));
        assert_eq!(class("杭州", "成都"), Some(LaneClass::CrossCountry));
        assert_eq!(class("广州", "拉萨"), Some(LaneClass::Remote));
        assert_eq!(class("某某市", "成都"), None);
    }

    #[test]
    fn every_city_is_found_under_its_own_province() {
        for prov in PROVINCES {
            for city in prov.cities {
                let found = Place::parse(city).unwrap();
                assert_eq!(found.city.as_deref(), Some(*city));
                // Names shared by two levels (海南 province / 海南州) are spelled apart.
                assert_eq!(found.province.as_deref(), Some(prov.name), "{city}");
            }
        }
    }
}
