//! A real headless browser for the console's tests: Debian's `chromium`, driven
//! through `chromedriver` (W3C WebDriver) with fantoccini. `./infra/test.sh`
//! installs chromium, chromium-driver and a CJK font; without them a test that
//! asks for [`chromedriver`] fails and says so.
//!
//! (Feature `browser`.)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use fantoccini::elements::Element;
pub use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 just now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// `name` on the `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Whether `GET /status` on 127.0.0.1:`port` answers 200.
async fn status_ok(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let ask =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(ask.as_bytes()).await.is_err() {
        return false;
    }
    // The status line is enough (chromedriver keeps the connection open).
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => reply.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    reply.starts_with(b"HTTP/1.1 200")
}

/// chromedriver on a free port, ready: the process and its URL.
pub async fn chromedriver() -> (Killed, String) {
    let program = find_program("chromedriver").unwrap_or_else(|| {
        panic!(
            "chromedriver is not installed: run ./infra/test.sh, or \
             apt-get install chromium chromium-driver fonts-wqy-microhei"
        )
    });
    let port = free_port();
    let child = Killed(
        Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}")),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if status_ok(port).await {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

/// A new headless chromium session (its own profile: no cookies, no storage).
pub async fn browser(driver: &str) -> Client {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1800", "--lang=zh-CN"]
    });
    if Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // Prompts stay open until the test answers them.
    caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a chromium session")
}

/// The element, once it is there (20 s at most).
pub async fn wait_for(b: &Client, css: &str) -> Element {
    b.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Waits (20 s at most) until the element's text contains `want`; the text.
pub async fn wait_text(b: &Client, css: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(want) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never said {want:?}; it says {last:?}");
}
