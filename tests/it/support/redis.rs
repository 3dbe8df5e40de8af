//! Redis for tests: the shared server with a private key prefix, a private server that can be
//! stopped, a private cluster, and a proxy that cuts connections on demand.

fn services_required() -> bool {
    std::env::var("MDL_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The Redis URL for tests, or `None` (with a visible message) to skip; required under
/// `MDL_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    match std::env::var("MDL_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if services_required() {
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
    /// Options beyond the ones every private server gets (a cluster node's, for instance).
    extra: Vec<String>,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Option<PrivateRedis> {
        if let Some(redis) = Self::launch(|_| Some(Vec::new())) {
            return Some(redis);
        }
        if services_required() {
            panic!("MDL_REQUIRE_SERVICES=1 but redis-server could not be started");
        }
        eprintln!("SKIPPED: needs redis-server on PATH");
        None
    }

    /// A server on a free port for which `extra` gives its options (`None`: unusable port).
    fn launch(extra: impl Fn(u16) -> Option<Vec<String>>) -> Option<PrivateRedis> {
        // A port picked in advance can be taken by a parallel test first: try a few.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let Some(extra) = extra(port) else { continue };
            let mut redis = PrivateRedis {
                port,
                extra,
                child: None,
            };
            if redis.restart() {
                return Some(redis);
            }
            redis.stop();
        }
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
            .args(&self.extra)
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

/// A private Redis Cluster of three masters (no replicas) on free ports, its files in a
/// temporary directory, stopped on drop. A stopped node comes back with its slots (its
/// `nodes.conf` survives) but without its keys.
pub struct RedisCluster {
    pub nodes: Vec<PrivateRedis>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub const SIZE: usize = 3;

    pub fn start() -> Option<RedisCluster> {
        let mut error = String::new();
        // Free ports are picked before they are bound: a parallel test may win one; try again.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(cluster) => return Some(cluster),
                Err(e) => error = e,
            }
        }
        if services_required() {
            panic!("MDL_REQUIRE_SERVICES=1 but a Redis Cluster could not be started: {error}");
        }
        eprintln!("SKIPPED: needs redis-server and redis-cli on PATH ({error})");
        None
    }

    fn try_start() -> Result<RedisCluster, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut nodes = Vec::new();
        for _ in 0..Self::SIZE {
            let path = dir.path().to_owned();
            let node = PrivateRedis::launch(|port| {
                // Each node also listens on port + 10000 for the cluster bus.
                (port <= 55_535).then(|| {
                    let conf = path.join(format!("nodes-{port}.conf"));
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf.to_string_lossy(),
                        "--dir",
                        &path.to_string_lossy(),
                        // Short, so a restarted node is back in service soon.
                        "--cluster-node-timeout",
                        "1000",
                        // Without replicas a dead master's slots are gone; the others keep
                        // serving theirs, as they would for the seconds before a failover.
                        "--cluster-require-full-coverage",
                        "no",
                    ]
                    .map(String::from)
                    .to_vec()
                })
            })
            .ok_or("redis-server did not start")?;
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let cluster = RedisCluster { nodes, _dir: dir };
        for i in 0..Self::SIZE {
            if !cluster.wait_ok(i) {
                return Err(format!(
                    "node {} never reported cluster_state:ok",
                    cluster.nodes[i].port
                ));
            }
        }
        Ok(cluster)
    }

    /// Polls node `i` until it reports the cluster in service (a few seconds at most).
    fn wait_ok(&self, i: usize) -> bool {
        for _ in 0..500 {
            let info = self
                .command(i, redis::cmd("CLUSTER").arg("INFO"))
                .and_then(|v| redis::from_redis_value::<String>(v).ok());
            if info.is_some_and(|info| info.contains("cluster_state:ok")) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// `REDIS_URL` for the whole cluster, node `first` listed first (the subscriber's pick).
    pub fn url_from(&self, first: usize) -> String {
        let order = (0..Self::SIZE).map(|i| (first + i) % Self::SIZE);
        let nodes: Vec<String> = order.map(|i| format!("127.0.0.1:{}", self.nodes[i].port)).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    pub fn url(&self) -> String {
        self.url_from(0)
    }

    /// One command to node `i` alone (no redirection); `None` on any error, `MOVED` included.
    pub fn command(&self, i: usize, cmd: &redis::Cmd) -> Option<redis::Value> {
        let client = redis::Client::open(self.nodes[i].url()).ok()?;
        let mut conn = client
            .get_connection_with_timeout(std::time::Duration::from_secs(1))
            .ok()?;
        cmd.query(&mut conn).ok()
    }

    /// The keys matching `pattern` that node `i` holds.
    pub fn keys(&self, i: usize, pattern: &str) -> Vec<String> {
        self.command(i, redis::cmd("KEYS").arg(pattern))
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or_default()
    }

    /// The node serving `key`'s slot: the one that answers for it instead of redirecting.
    pub fn owner(&self, key: &str) -> usize {
        (0..Self::SIZE)
            .find(|i| self.command(*i, redis::cmd("EXISTS").arg(key)).is_some())
            .unwrap_or_else(|| panic!("no node serves {key}"))
    }

    pub fn stop(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again and waits until it is back in service.
    pub fn restart(&mut self, i: usize) -> bool {
        self.nodes[i].restart() && self.wait_ok(i)
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
