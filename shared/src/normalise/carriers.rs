//! The carrier table: Kdniao-style upper-case codes (our canonical [`CarrierCode`]
//! spelling), Kuaidi100's lower-case `com` codes, and Chinese display names.
//!
//! [`CarrierCode`]: crate::domain::CarrierCode

/// One carrier: canonical (Kdniao) code, Kuaidi100 `com`, Chinese name.
struct Entry {
    code: &'static str,
    kuaidi100: &'static str,
    name_zh: &'static str,
}

const fn e(code: &'static str, kuaidi100: &'static str, name_zh: &'static str) -> Entry {
    Entry {
        code,
        kuaidi100,
        name_zh,
    }
}

static TABLE: &[Entry] = &[
    e("SF", "shunfeng", "顺丰速运"),
    e("ZTO", "zhongtong", "中通快递"),
    e("YTO", "yuantong", "圆通速递"),
    e("STO", "shentong", "申通快递"),
    e("YD", "yunda", "韵达快递"),
    e("JD", "jd", "京东物流"),
    e("EMS", "ems", "EMS"),
    e("JTSD", "jtexpress", "极兔速递"),
    e("DBL", "debangwuliu", "德邦快递"),
    e("HTKY", "huitongkuaidi", "百世快递"),
    e("YZPY", "youzhengguonei", "邮政快递包裹"),
    e("ZJS", "zhaijisong", "宅急送"),
    e("UC", "youshuwuliu", "优速快递"),
    e("HHTT", "tiantian", "天天快递"),
    e("GTO", "guotongkuaidi", "国通快递"),
    e("FAST", "kuaijiesudi", "快捷快递"),
    e("YZBK", "youzhengbk", "邮政标准快递"),
];

/// Other Kuaidi100 `com` spellings seen for a carrier, mapped to its code.
static KUAIDI100_ALIASES: &[(&str, &str)] = &[("debangkuaidi", "DBL")];

fn by_code(code: &str) -> Option<&'static Entry> {
    let code = code.trim();
    TABLE.iter().find(|e| e.code.eq_ignore_ascii_case(code))
}

/// Kuaidi100 `com` → canonical code: `"zhongtong"` → `"ZTO"` (case-insensitive).
pub fn from_kuaidi100(com: &str) -> Option<&'static str> {
    let com = com.trim();
    TABLE
        .iter()
        .find(|e| e.kuaidi100.eq_ignore_ascii_case(com))
        .map(|e| e.code)
        .or_else(|| {
            KUAIDI100_ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(com))
                .map(|(_, code)| *code)
        })
}

/// Canonical code → Kuaidi100 `com`: `"ZTO"` → `"zhongtong"` (case-insensitive).
pub fn to_kuaidi100(code: &str) -> Option<&'static str> {
    by_code(code).map(|e| e.kuaidi100)
}

/// Any way a carrier is named — our code, a Kuaidi100 `com`, or the Chinese name
/// (`"ZTO"`, `"zhongtong"`, `"中通快递"`) — to its canonical code; `None` for a
/// carrier the table does not know.
pub fn canonical(name: &str) -> Option<&'static str> {
    let name = name.trim();
    by_code(name)
        .map(|e| e.code)
        .or_else(|| from_kuaidi100(name))
        .or_else(|| TABLE.iter().find(|e| e.name_zh == name).map(|e| e.code))
}

/// Do two names name the same carrier? Known carriers compare by canonical code;
/// others by their spelling, ignoring case.
pub fn same_carrier(a: &str, b: &str) -> bool {
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// Every canonical code of the table.
pub fn codes() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.code)
}

/// Canonical code → Chinese name: `"ZTO"` → `"中通快递"` (case-insensitive).
pub fn name_zh(code: &str) -> Option<&'static str> {
    by_code(code).map(|e| e.name_zh)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_carrier_is_the_same_under_each_of_its_names() {
        for name in ["ZTO", "zto", "zhongtong", "中通快递", " ZhongTong "] {
            assert_eq!(super::canonical(name), Some("ZTO"), "{name}");
            assert!(super::same_carrier(name, "ZTO"), "{name}");
        }
        assert!(super::same_carrier("debangkuaidi", "DBL"));
        assert!(!super::same_carrier("shunfeng", "ZTO"));
        assert!(!super::same_carrier("SF", "顺丰速运x"));
        // Carriers the table does not know compare by spelling.
        assert_eq!(super::canonical("XYZ"), None);
        assert!(super::same_carrier("xyz", "XYZ"));
        assert!(!super::same_carrier("XYZ", "ABC"));
    }

    use super::*;
    use crate::domain::CarrierCode;

    const ROWS: &[(&str, &str, &str)] = &[
        ("SF", "shunfeng", "顺丰速运"),
        ("ZTO", "zhongtong", "中通快递"),
        ("YTO", "yuantong", "圆通速递"),
        ("STO", "shentong", "申通快递"),
        ("YD", "yunda", "韵达快递"),
        ("JD", "jd", "京东物流"),
        ("EMS", "ems", "EMS"),
        ("JTSD", "jtexpress", "极兔速递"),
        ("DBL", "debangwuliu", "德邦快递"),
        ("HTKY", "huitongkuaidi", "百世快递"),
        ("YZPY", "youzhengguonei", "邮政快递包裹"),
        ("ZJS", "zhaijisong", "宅急送"),
        ("UC", "youshuwuliu", "优速快递"),
        ("HHTT", "tiantian", "天天快递"),
        ("GTO", "guotongkuaidi", "国通快递"),
        ("FAST", "kuaijiesudi", "快捷快递"),
        ("YZBK", "youzhengbk", "邮政标准快递"),
    ];

    #[test]
    fn every_row_maps_both_ways_with_its_name() {
        assert_eq!(ROWS.len(), TABLE.len());
        for (code, com, zh) in ROWS {
            assert_eq!(from_kuaidi100(com), Some(*code), "{com}");
            assert_eq!(to_kuaidi100(code), Some(*com), "{code}");
            assert_eq!(name_zh(code), Some(*zh), "{code}");
            // Every canonical code is a valid domain carrier code, unchanged.
            assert_eq!(CarrierCode::parse(code).unwrap().as_str(), *code);
        }
    }

    #[test]
    fn lookups_are_case_insensitive_and_trimmed() {
        assert_eq!(from_kuaidi100("ZhongTong"), Some("ZTO"));
        assert_eq!(from_kuaidi100(" SHUNFENG "), Some("SF"));
        assert_eq!(to_kuaidi100("zto"), Some("zhongtong"));
        assert_eq!(to_kuaidi100("Jtsd"), Some("jtexpress"));
        assert_eq!(name_zh("sf"), Some("顺丰速运"));
    }

    #[test]
    fn debang_alias() {
        assert_eq!(from_kuaidi100("debangkuaidi"), Some("DBL"));
        assert_eq!(from_kuaidi100("debangwuliu"), Some("DBL"));
        // The canonical reverse mapping is the primary spelling.
        assert_eq!(to_kuaidi100("DBL"), Some("debangwuliu"));
    }

    #[test]
    fn unknown_carriers() {
        assert_eq!(from_kuaidi100(""), None);
        assert_eq!(from_kuaidi100("nosuchcarrier"), None);
        assert_eq!(to_kuaidi100("XYZ"), None);
        assert_eq!(name_zh(""), None);
        // A Kuaidi100 com is not a canonical code and vice versa.
        assert_eq!(to_kuaidi100("zhongtong"), None);
        assert_eq!(from_kuaidi100("ZTO"), None);
    }
}
