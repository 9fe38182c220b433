//! The two signature schemes (carriers.md §1.2, §2.1, §2.5), written from the
//! protocol notes and pinned by their test vectors.
//!
//! Both are computed over the *decoded* form value: the fakes decode the form once
//! and recompute, exactly like the real services. A client that double-encodes, or
//! leaves a `+` of the Base64 signature unescaped (decoded as a space), fails here as
//! it would in production.

use std::fmt::Write as _;

use base64::Engine as _;
use md5::{Digest, Md5};

/// Lower-case hex MD5 of a UTF-8 string.
pub fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Kdniao `DataSign`: Base64 of the ASCII *lower-case hex* MD5 of
/// `RequestData + AppKey` (not of the 16 raw digest bytes).
pub fn kdniao_sign(request_data: &str, app_key: &str) -> String {
    let hex = md5_hex(&format!("{request_data}{app_key}"));
    base64::engine::general_purpose::STANDARD.encode(hex.as_bytes())
}

/// Kuaidi100 query `sign`: upper-case hex MD5 of `param + key + customer`.
pub fn kuaidi100_sign(param: &str, key: &str, customer: &str) -> String {
    md5_hex(&format!("{param}{key}{customer}")).to_ascii_uppercase()
}

/// Kuaidi100 push `sign`: upper-case hex MD5 of `param + salt`.
pub fn kuaidi100_push_sign(param: &str, salt: &str) -> String {
    md5_hex(&format!("{param}{salt}")).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdniao_vector() {
        let data = r#"{"OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001","CustomerName":"1234"}"#;
        assert_eq!(
            md5_hex(&format!("{data}test-appkey-0000")),
            "cf1362cc311dde4bf41b93980910c418"
        );
        assert_eq!(
            kdniao_sign(data, "test-appkey-0000"),
            "Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg="
        );
    }

    #[test]
    fn kuaidi100_vector() {
        let param = r#"{"com":"yuantong","num":"YT0000000000001","phone":"1234","resultv2":"4"}"#;
        assert_eq!(
            kuaidi100_sign(param, "KEYKEY", "CUSTOMER0001"),
            "9DB5F345BEB705D5B8103CD9028F0C44"
        );
    }

    #[test]
    fn kuaidi100_push_vector() {
        let param = r#"{"status":"polling","message":"","lastResult":{"message":"ok","state":"0","status":"200","condition":"F00","ischeck":"0","com":"yuantong","nu":"YT0000000000001","data":[]}}"#;
        assert_eq!(
            kuaidi100_push_sign(param, "SALT0001"),
            "3D1C2E4F34BAC56CA30EE9E835B3D08B"
        );
    }
}
