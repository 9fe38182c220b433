//! The console page in a real headless browser: Debian's chromium, driven through
//! chromedriver (W3C WebDriver) with fantoccini, against `sentinel serve` on the
//! data `sentinel demo` leaves. `./infra/test.sh` installs chromium,
//! chromium-driver and a CJK font; without them this test fails and says so.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sentinel_fakes::browser::{browser, chromedriver, wait_for, wait_text, Killed, Locator};
use serde_json::Value;

mod common;

/// `sentinel serve` on a free loopback port; its page URL.
fn serve(db: &Path, extra: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .env_remove("SENTINEL_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let page = common::served_url(&mut child);
    (Killed(child), page)
}

async fn api(c: &reqwest::Client, url: String) -> Value {
    serde_json::from_str(&c.get(url).send().await.unwrap().text().await.unwrap()).unwrap()
}

// The demo fleet starts 2024-11-04 (China time) and runs four days.
const DEMO_NOW: &str = "2024-11-07T18:00:00";

#[tokio::test]
async fn people_look_up_take_problems_and_see_the_fleet_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    let (_server, page) = serve(&db, &["--now", DEMO_NOW]);
    let base = format!("{page}api/");
    let (_driver, driver_url) = chromedriver().await;
    let b = browser(&driver_url).await;
    let http = reqwest::Client::new();

    b.goto(&page).await.unwrap();
    wait_for(&b, "#queue-table tbody tr").await;

    // Fleet health: the figures, seven charts with bars, the delivery table.
    let figures = wait_text(&b, "#health-figures", "300").await;
    assert!(
        figures.contains("包裹总数"),
        "Chinese by default: {figures}"
    );
    let charts = b.find_all(Locator::Css("#charts svg")).await.unwrap();
    assert_eq!(charts.len(), 7);
    let bars = b.find_all(Locator::Css("#charts rect.bar")).await.unwrap();
    assert!(bars.len() > 20, "{} bars", bars.len());
    let summary = api(&http, format!("{base}summary")).await;
    let rows = b
        .find_all(Locator::Css("#delivery-table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), summary["delivery"].as_object().unwrap().len());

    // The queue shows what the API shows, oldest first.
    let queue = api(&http, format!("{base}problems")).await;
    let items = queue["items"].as_array().unwrap();
    let rows = b
        .find_all(Locator::Css("#queue-table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), items.len());
    let key = |i: &Value| format!("{}/{}", i["carrier"], i["tracking_number"]).replace('"', "");
    assert_eq!(
        rows[0].attr("data-parcel").await.unwrap().unwrap(),
        key(&items[0])
    );
    // A parcel stalled after its first scans: it has a timeline to show.
    let stalled = items
        .iter()
        .find(|i| i["problems"][0]["rule"] == "stalled")
        .expect("the demo leaves stalled parcels");
    let first = key(stalled);

    // Acting without a name is refused on the page, before any request.
    rows[0]
        .find(Locator::Css("button[data-action=ack]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&b, "#message", "名字").await;

    // Acknowledge the head of the queue in one click.
    b.find(Locator::Css("#me"))
        .await
        .unwrap()
        .send_keys("ops-wang")
        .await
        .unwrap();
    let (carrier, number) = first.split_once('/').unwrap();
    let row = b
        .find(Locator::Css(&format!("tr[data-parcel='{first}']")))
        .await
        .unwrap();
    let rule = row
        .find(Locator::Css(".problem"))
        .await
        .unwrap()
        .attr("data-rule")
        .await
        .unwrap()
        .unwrap();
    row.find(Locator::Css("button[data-action=ack]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&b, "#message", "已完成").await;
    let parcel = api(&http, format!("{base}shipments/{carrier}/{number}")).await;
    let problem = parcel["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["rule"] == rule.as_str())
        .unwrap();
    assert_eq!(problem["state"], "acknowledged", "{parcel}");
    assert_eq!(problem["by"], "ops-wang");

    // Someone else takes the next one first: the page says who.
    let second = items.iter().find(|i| key(i) != first).unwrap();
    let (c2, n2) = (
        second["carrier"].as_str().unwrap(),
        second["tracking_number"].as_str().unwrap(),
    );
    let r2 = second["problems"][0]["rule"].as_str().unwrap();
    let r = http
        .post(format!("{base}problems/{c2}/{n2}/{r2}"))
        .body(r#"{"action":"ack","by":"李四"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    b.find(Locator::Css(&format!(
        "tr[data-parcel='{c2}/{n2}'] .problem[data-rule='{r2}'] button[data-action=ack]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_text(&b, "#message", "李四").await;

    // Look the first parcel up by its number alone: status, the whole timeline in
    // the carrier's words, the problem with its history.
    let input = b.find(Locator::Css("#number")).await.unwrap();
    input.send_keys(number).await.unwrap();
    b.find(Locator::Css("#lookup-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&b, "#parcel .timeline li").await;
    let shown = b
        .find_all(Locator::Css("#parcel .timeline li"))
        .await
        .unwrap();
    let timeline = parcel["timeline"].as_array().unwrap();
    assert_eq!(shown.len(), timeline.len());
    let newest = timeline.last().unwrap()["text"].as_str().unwrap();
    assert!(shown[0].text().await.unwrap().contains(newest));
    let detail = wait_text(&b, "#parcel", "ops-wang").await;
    assert!(detail.contains(number), "{detail}");
    assert!(detail.contains("已认领"), "{detail}");
    // Stalled but not delivered: its estimated delivery, and what it rests on.
    assert!(parcel["eta"]["p50"].is_string(), "{parcel}");
    assert!(detail.contains("预计送达"), "{detail}");

    // The page of the fleet as people see it (docs/console.png is one of these).
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000);
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png"),
        &png,
    )
    .unwrap();

    // English on request.
    b.goto(&format!("{page}?lang=en")).await.unwrap();
    wait_text(&b, "h1", "Parcel Sentinel").await;
    wait_text(&b, "#health-figures", "Parcels").await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn with_a_token_the_page_asks_for_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    let token = "a-long-enough-token-for-ops";
    let (_server, page) = serve(&db, &["--now", DEMO_NOW, "--token", token]);
    let (_driver, driver_url) = chromedriver().await;
    let b = browser(&driver_url).await;
    b.goto(&page).await.unwrap();
    let mut asked = false;
    for _ in 0..100 {
        if let Ok(text) = b.get_alert_text().await {
            assert!(text.contains("令牌"), "{text}");
            b.send_alert_text(token).await.unwrap();
            b.accept_alert().await.unwrap();
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asked, "the page never asked for the token");
    wait_text(&b, "#health-figures", "300").await;
    wait_for(&b, "#queue-table tbody tr").await;
    b.close().await.unwrap();
}
