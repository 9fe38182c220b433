//! Request and push signatures of the two aggregators (carriers.md §1.2, §2.1, §2.5).
//!
//! All three are MD5 over a plain concatenation of the exact strings sent, before
//! any URL encoding; they differ in what is concatenated and how the digest is
//! spelled. Getting one character wrong makes the provider answer "illegal
//! parameters", so each is pinned by the published test vector.

use base64::Engine as _;
use md5::{Digest, Md5};

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Kdniao `DataSign`: Base64 of the ASCII lower-case hex MD5 of
/// `RequestData + AppKey` (the hex string is encoded, not the raw digest).
pub fn kdniao_data_sign(request_data: &str, app_key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5_hex(&[request_data, app_key]))
}

/// Kuaidi100 query `sign`: upper-case hex MD5 of `param + key + customer`.
pub fn kuaidi100_sign(param: &str, key: &str, customer: &str) -> String {
    md5_hex(&[param, key, customer]).to_ascii_uppercase()
}

/// Kuaidi100 push `sign`: upper-case hex MD5 of `param + salt`.
pub fn kuaidi100_push_sign(param: &str, salt: &str) -> String {
    md5_hex(&[param, salt]).to_ascii_uppercase()
}

/// Compares two signatures without an early exit, so the time taken does not
/// tell an attacker how many leading characters were right.
pub fn same_signature(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdniao_published_vector() {
        let data = r#"{"OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001","CustomerName":"1234"}"#;
        assert_eq!(
            md5_hex(&[data, "test-appkey-0000"]),
            "cf1362cc311dde4bf41b93980910c418"
        );
        assert_eq!(
            kdniao_data_sign(data, "test-appkey-0000"),
            "Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg="
        );
    }

    #[test]
    fn kuaidi100_published_vector() {
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

    #[test]
    fn signature_comparison() {
        assert!(same_signature("ABC", "ABC"));
        assert!(!same_signature("ABC", "ABD"));
        assert!(!same_signature("ABC", "AB"));
        assert!(!same_signature("", "A"));
    }
}
