//! Headless Chromium for the journeys: one `chromedriver` per test binary on a free port
//! (ready when its `/status` says so), one browser session per test, a few at a time.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Browsers at once: each takes a core while it renders, and the machine has few.
static SESSIONS: Semaphore = Semaphore::const_new(2);
static DRIVER: OnceLock<Option<Driver>> = OnceLock::new();

struct Driver {
    url: String,
    /// The watchdog shell; it outlives nothing but this process.
    _watchdog: std::sync::Mutex<std::process::Child>,
}

fn required() -> bool {
    ["MDL_REQUIRE_SERVICES", "MDL_REQUIRE_BROWSER"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
}

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `GET /status` on the driver, answered `ready: true`.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"ready\":true") || answer.contains("\"ready\": true")
}

/// Starts chromedriver under a small shell watchdog that stops it, and the browsers it
/// started, when this test process exits: a test that panics never closes its session, and
/// Chromium outlives a stopped driver.
fn start_driver() -> Option<Driver> {
    let Some(driver) = on_path("chromedriver") else {
        assert!(
            !required(),
            "chromedriver is not on PATH and MDL_REQUIRE_SERVICES/MDL_REQUIRE_BROWSER is set"
        );
        eprintln!("SKIPPED: browser tests (no chromedriver on PATH; apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let script = r#"driver="$1"; port="$2"; parent="$3"
"$driver" --port="$port" --allowed-ips=127.0.0.1 >/dev/null 2>&1 &
child=$!
trap 'pkill -TERM -P $child 2>/dev/null; kill $child 2>/dev/null' EXIT INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done"#;
    let watchdog = std::process::Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&driver)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(port) {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        url: format!("http://127.0.0.1:{port}"),
        _watchdog: std::sync::Mutex::new(watchdog),
    })
}

/// A headless browser session for one test; `None` (after a SKIPPED line) without a driver.
pub struct Browser {
    pub client: Client,
    /// The origin of the first page visited: every page and every resource must come from it.
    origin: std::sync::Mutex<Option<String>>,
    _turn: SemaphorePermit<'static>,
}

pub async fn browser() -> Option<Browser> {
    let url = DRIVER.get_or_init(start_driver).as_ref()?.url.clone();
    let turn = SESSIONS.acquire().await.expect("semaphore");
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--window-size=1280,1000"]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a browser session");
    Some(Browser {
        client,
        origin: std::sync::Mutex::new(None),
        _turn: turn,
    })
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.assert_same_origin().await;
        // `http://host:port/path` -> `http://host:port`
        let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        self.origin.lock().unwrap().get_or_insert(origin);
        self.client.goto(url).await.unwrap();
    }

    /// The page on screen, and everything it loaded (styles, scripts, images, fetches), came
    /// from the server under test: no page calls another host.
    pub async fn assert_same_origin(&self) {
        let Some(origin) = self.origin.lock().unwrap().clone() else {
            return;
        };
        let seen = self
            .run(
                "if (!location.protocol.startsWith('http')) return []; \
                 return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)];",
            )
            .await;
        let foreign: Vec<&str> = seen
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let foreign: Vec<&str> = foreign
            .into_iter()
            .filter(|u| !u.starts_with(&format!("{origin}/")) && !u.starts_with("data:"))
            .collect();
        assert!(
            foreign.is_empty(),
            "requests to another host than {origin}: {foreign:?}"
        );
    }

    /// A PNG of the page on screen; also written to `$MDL_SCREENSHOTS/NAME.png` when that is set
    /// (how the README's pictures are made: `MDL_SCREENSHOTS=docs/img cargo test --test it screens`).
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.client.screenshot().await.unwrap();
        if let Ok(dir) = std::env::var("MDL_SCREENSHOTS") {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), &png).unwrap();
        }
        png
    }

    pub async fn text(&self, css: &str) -> String {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element.text().await.unwrap(),
            Err(e) => {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                panic!("no {css} at {url} ({e}); the page:\n{source}")
            }
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.assert_same_origin().await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits until the address satisfies `check` (navigation after a click is asynchronous).
    pub async fn wait_for_url(&self, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.client.current_url().await.unwrap().to_string();
            if check(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "still at {now}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("form.stack button[type=submit]").await;
        self.text(".who strong").await;
    }

    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    pub async fn close(self) {
        self.assert_same_origin().await;
        let _ = self.client.close().await;
    }
}
