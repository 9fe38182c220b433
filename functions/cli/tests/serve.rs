//! `sentinel serve`: the console API over HTTP on the data `sentinel demo --db`
//! leaves, through a real socket; loopback by default, a token elsewhere.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;

use serde_json::Value;

struct Server {
    child: Child,
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
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, base }
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

    let (status, e) = get(&c, &format!("{}nowhere", s.base)).await;
    assert_eq!(status, 404, "{e}");
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
