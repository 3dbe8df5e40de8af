//! Redis for tests: the shared server with a private key prefix, a private server that can be
//! stopped, and a proxy that cuts connections on demand.

/// The Redis URL for tests, or `None` (with a visible message) to skip; required under
/// `MDL_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    match std::env::var("MDL_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!("MDL_REQUIRE_SERVICES=1 but MDL_TEST_REDIS_URL is not set");
            }
            eprintln!("SKIPPED: Redis test (set MDL_TEST_REDIS_URL to run it)");
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("mdl-test-{}", uuid::Uuid::new_v4().simple())
}

/// A private `redis-server` on a free port, stopped (and restartable) at will.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Option<PrivateRedis> {
        // A port picked in advance can be taken by a parallel test first: try a few.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let mut redis = PrivateRedis { port, child: None };
            if redis.restart() {
                return Some(redis);
            }
            redis.stop();
        }
        if std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("MDL_REQUIRE_SERVICES=1 but redis-server could not be started");
        }
        eprintln!("SKIPPED: needs redis-server on PATH");
        None
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and waits until it answers.
    pub fn restart(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..200 {
            // PING, not just connect: whatever else took the port would also accept.
            if self.answers_ping() {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy the test controls, in front of a real service: `cut` drops every connection and
/// refuses new ones (the service "goes away"), `restore` lets connections through again.
pub struct TcpProxy {
    pub port: u16,
    upstream: std::net::SocketAddr,
    accept: Option<tokio::task::JoinHandle<()>>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(upstream: std::net::SocketAddr) -> TcpProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut proxy = TcpProxy {
            port,
            upstream,
            accept: None,
            connections: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream;
        let connections = self.connections.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().expect("lock").push(task.abort_handle());
            }
        }));
    }

    pub fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for c in self.connections.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    pub async fn restore(&mut self) {
        for _ in 0..100 {
            if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not listen on port {} again", self.port);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
