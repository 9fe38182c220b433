//! `sentinel serve`: the console API over HTTP on the data `sentinel demo --db`
//! leaves, through a real socket; loopback by default, a token elsewhere.

use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;

use serde_json::Value;

struct Server {
    child: Child,
    /// The page.
    page: String,
    /// The JSON API.
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &Path, args: &[&str], token: Option<&str>) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    cmd.arg("serve")
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SENTINEL_TOKEN")
        .stdout(Stdio::piped());
    if let Some(t) = token {
        cmd.env("SENTINEL_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let page = common::served_url(&mut child);
    assert!(page.ends_with('/'), "{page}");
    let base = format!("{page}api/");
    Server { child, page, base }
}

async fn get(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_console_api_looks_up_queues_and_acts() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    let s = serve(&db, &["--addr", "127.0.0.1:0"], None);
    let c = reqwest::Client::new();

    let (status, summary) = get(&c, &format!("{}summary", s.base)).await;
    assert_eq!(status, 200);
    assert_eq!(summary["parcels"], 300, "{summary}");
    // The demo's days are in the past: the last 14 days of the clock show none
    // of its parcels, but their delivery figures stand.
    let days = summary["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert!(days.iter().all(|d| d["registered"] == 0), "{summary}");
    assert!(!summary["delivery"].as_object().unwrap().is_empty());

    let (status, q) = get(&c, &format!("{}problems", s.base)).await;
    assert_eq!(status, 200);
    // A parcel stalled after its first scans: it has a timeline to show.
    let first = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["problems"][0]["rule"] == "stalled")
        .expect("the demo leaves stalled parcels");
    let (carrier, number) = (
        first["carrier"].as_str().unwrap(),
        first["tracking_number"].as_str().unwrap(),
    );
    let rule = first["problems"][0]["rule"].as_str().unwrap();

    let (status, parcel) = get(&c, &format!("{}shipments/{carrier}/{number}", s.base)).await;
    assert_eq!(status, 200);
    let (status, same) = get(&c, &format!("{}shipments/{number}", s.base)).await;
    assert_eq!(status, 200, "the carrier is found from the number: {same}");
    assert_eq!(same["carrier"], carrier);
    assert!(!parcel["timeline"].as_array().unwrap().is_empty());
    assert_eq!(parcel["problems"][0]["state"], "open");

    let r = c
        .post(format!("{}problems/{carrier}/{number}/{rule}", s.base))
        .body(r#"{"action":"ack","by":"张三"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let (_, acked) = get(&c, &format!("{}problems?state=acknowledged", s.base)).await;
    assert!(acked["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["tracking_number"] == number));

    let (_, mine) = get(&c, &format!("{}problems?state=all&owner=张三", s.base)).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    let (status, e) = get(&c, &format!("{}problems?severity=urgent", s.base)).await;
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("severity"), "{e}");

    let (status, e) = get(&c, &format!("{}nowhere", s.base)).await;
    assert_eq!(status, 404, "{e}");
}

#[tokio::test]
async fn the_page_is_served_with_its_policy_and_dated_by_now() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    // The demo's fourth day (the fleet starts 2024-11-04, China time).
    let s = serve(
        &db,
        &["--addr", "127.0.0.1:0", "--now", "2024-11-07T18:00:00"],
        None,
    );
    let c = reqwest::Client::new();
    for (path, kind) in [
        ("", "text/html"),
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let r = c.get(format!("{}{path}", s.page)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let h = r.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    let html = c.get(&s.page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<script src="console.js""#), "{html}");
    let r = c.post(&s.page).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);

    let (_, summary) = get(&c, &format!("{}summary", s.base)).await;
    let days = summary["days"].as_array().unwrap();
    assert_eq!(days.last().unwrap()["date"], "2024-11-07", "{summary}");
    let registered: u64 = days.iter().map(|d| d["registered"].as_u64().unwrap()).sum();
    assert_eq!(
        registered, 300,
        "every demo parcel registered in the window"
    );
    assert!(days.iter().any(|d| d["alerts"].as_u64().unwrap() > 0));

    let (status, v) = get(&c, &format!("{}vocabulary", s.base)).await;
    assert_eq!(status, 200);
    assert!(v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "stalled" && r["zh"] == "物流停滞"));
    assert!(v["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["code"] == "SF"));
}

#[tokio::test]
async fn elsewhere_than_loopback_a_token_is_required_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["serve", "--addr", "0.0.0.0:0", "--db"])
        .arg(&db)
        .env_remove("SENTINEL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--token"));
    let o = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["serve", "--addr", "0.0.0.0:0", "--token", "short", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "a short token is refused");

    let token = "s3cret-token-for-the-ops-team";
    let s = serve(&db, &["--addr", "0.0.0.0:0"], Some(token));
    let port = s.base.rsplit(':').next().unwrap().trim_end_matches("/api/");
    let base = format!("http://127.0.0.1:{port}/api/");
    let c = reqwest::Client::new();
    // The page holds no data: it is served without the token, and asks for it.
    let r = c
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c.get(format!("{base}summary")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = c
        .get(format!("{base}summary"))
        .bearer_auth("s3cret-token-for-the-ops-teaM")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(format!("{base}summary"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
