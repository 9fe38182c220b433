//! The one HTTP call both aggregators use: POST an `application/x-www-form-urlencoded`
//! body, read a UTF-8 body back. Transport failures become typed errors here:
//! connection problems and 5xx are transient, 429 is a rate limit (with its
//! `Retry-After`), other statuses and bodies that are not text are permanent.
//!
//! Error messages name the host only: URLs may carry tokens, bodies may carry
//! phone numbers.

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use super::guard::Failure;
use shared::ports::CarrierError;

/// Largest reply body read (a full Kdniao timeline is a few kB).
const MAX_BODY: usize = 4 << 20;

/// A shared HTTP client (connection pool) for one provider.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Self, CarrierError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("parcel-sentinel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CarrierError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Posts `fields` form-encoded (each value encoded exactly once) and returns
    /// the reply body.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Result<String, Failure> {
        let body = form_body(fields);
        let host = host_of(url);
        let resp = self
            .client
            .post(url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded;charset=utf-8"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&host, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| transport_error(&host, &e))?;
        if status.as_u16() == 429 {
            return Err(Failure {
                error: CarrierError::RateLimited(format!("{host} answered HTTP 429")),
                retry_after,
            });
        }
        if status.is_server_error() {
            return Err(Failure {
                error: CarrierError::Transient(format!("{host} answered HTTP {}", status.as_u16())),
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(
                CarrierError::Other(format!("{host} answered HTTP {}", status.as_u16())).into(),
            );
        }
        if bytes.len() > MAX_BODY {
            return Err(CarrierError::Malformed(format!(
                "{host} sent a {} byte reply (limit {MAX_BODY})",
                bytes.len()
            ))
            .into());
        }
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            CarrierError::Malformed(format!("{host} sent a reply that is not UTF-8: {e}")).into()
        })
    }
}

/// `k=v&k=v`, each value percent-encoded once as a form value.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The fields of a form body, decoded. Later duplicates win.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The value of `key` in decoded form fields.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| "the provider".to_string())
}

fn transport_error(host: &str, e: &reqwest::Error) -> Failure {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reply cut off"
    } else {
        "request failed"
    };
    CarrierError::Transient(format!("{host}: {what}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_single_and_round_trips() {
        let data = r#"{"OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001","CustomerName":"1234"}"#;
        let sign = "Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg=";
        let body = form_body(&[("RequestData", data), ("DataSign", sign)]);
        assert_eq!(
            body,
            "RequestData=%7B%22OrderCode%22%3A%22%22%2C%22ShipperCode%22%3A%22YTO%22%2C%22LogisticCode%22%3A%22YT0000000000001%22%2C%22CustomerName%22%3A%221234%22%7D&DataSign=Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg%3D"
        );
        let back = parse_form(&body);
        assert_eq!(field(&back, "RequestData"), Some(data));
        assert_eq!(field(&back, "DataSign"), Some(sign));
        assert_eq!(field(&back, "Missing"), None);
    }

    #[test]
    fn hosts_never_show_paths_or_queries() {
        assert_eq!(
            host_of("https://oapi.example.com/robot/send?access_token=SECRET"),
            "oapi.example.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(host_of("not a url"), "the provider");
    }
}
