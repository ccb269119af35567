//! A private three-master Redis Cluster on free loopback ports, as `sesame-redis`'s cluster
//! tests start one (`redis-server --cluster-enabled yes` ×3, `redis-cli --cluster create`),
//! killed when dropped. Missing `redis-server` or `redis-cli` is a loud skip, or a failure
//! under `CI=true` ([`sesame::store::suite::skip_or_fail`]).

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One node: a `redis-server` child, killed (SIGKILL) on drop.
#[derive(Debug)]
struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A three-master cluster (no replicas), its nodes' files under a directory of the caller's.
#[derive(Debug)]
pub(crate) struct Cluster {
    nodes: Vec<Node>,
}

/// Whether `program --version` runs.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Starts three masters (their files in `dir`), joins them and waits for
    /// `cluster_state:ok`; `Ok(None)` after a loud skip when `redis-server` or `redis-cli` is
    /// missing (outside CI; under `CI=true` that panics).
    pub(crate) fn start(test: &str, dir: &Path) -> Result<Option<Self>, Error> {
        for (program, package) in [
            ("redis-server", "redis-server"),
            ("redis-cli", "redis-tools"),
        ] {
            if !installed(program) {
                sesame::store::suite::skip_or_fail(
                    "sesame-demo: Redis Cluster",
                    test,
                    &format!("`{program}` is not on the PATH"),
                    &format!("Install Redis (Debian: {package}) to run it"),
                );
                return Ok(None);
            }
        }
        let mut nodes = Vec::new();
        for i in 0..3 {
            let port = free_port()?;
            let node_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir)?;
            let log = File::create(node_dir.join("redis.log"))?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .arg("--cluster-config-file")
                .arg(node_dir.join("nodes.conf"))
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            let mut node = Node { child, port };
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = node.child.try_wait()? {
                    return Err(format!(
                        "cluster node {i} exited ({status}): {}",
                        read(&node_dir.join("redis.log"))
                    )
                    .into());
                }
                if Instant::now() > deadline {
                    return Err(format!("cluster node {i} did not listen within 20 s").into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            nodes.push(node);
        }
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let cluster = Self { nodes };
        cluster.wait_ok()?;
        Ok(Some(cluster))
    }

    /// Waits (up to 30 s) until every node reports `cluster_state:ok`.
    fn wait_ok(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all_ok = self.ports().iter().all(|port| {
                self.cli(*port, &["cluster", "info"])
                    .is_ok_and(|o| o.contains("cluster_state:ok"))
            });
            if all_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the cluster did not reach cluster_state:ok within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes' ports.
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The nodes' URLs, comma-separated (`SESAME_REDIS_URL` for a cluster).
    pub(crate) fn url(&self) -> String {
        self.ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `redis-cli -p port args...` (without following redirections): its output.
    pub(crate) fn cli(&self, port: u16, args: &[&str]) -> Result<String, Error> {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The keys matching `pattern` held by the node on `port`.
    pub(crate) fn keys_on(&self, port: u16, pattern: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .cli(port, &["--scan", "--pattern", pattern])?
            .lines()
            .map(str::to_owned)
            .filter(|k| !k.is_empty())
            .collect())
    }
}

/// The whole of a log file, or nothing.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
