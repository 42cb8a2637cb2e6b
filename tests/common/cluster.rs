//! Cluster-mode test equipment: `vigil run` processes on one PostgreSQL (each a [`Node`] in
//! its own folder, killed when dropped), the S3-compatible server (`moto_server`), `psql`
//! queries, process trees and polling waits.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::vigil_command;

/// The bucket [`moto`] creates.
pub const BUCKET: &str = "vigil-snapshots";

/// `psql -At` of `query` on `url`: rows of `|`-separated fields.
pub fn sql(url: &str, query: &str) -> Vec<Vec<String>> {
    let out = Command::new("psql").arg(url).args(["-v", "ON_ERROR_STOP=1", "-Atc", query]).output().expect("psql runs");
    assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

pub fn one(url: &str, query: &str) -> String {
    sql(url, query).into_iter().next().and_then(|r| r.into_iter().next()).unwrap_or_default()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The S3-compatible server, killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn moto() -> Moto {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (tests/run installs `moto[server]` from PyPI)");
    let moto = Moto { child, port };
    let http = crate::http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("http://127.0.0.1:{port}/{BUCKET}");
        if let Ok(r) = http.put(&url).send().await {
            assert!(r.status().is_success(), "creating the bucket: {}", r.status());
            return moto;
        }
        assert!(Instant::now() < deadline, "moto_server did not listen within 60s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One `vigil run` process in its own folder (`dir`), killed (after SIGCONT) when dropped.
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Node {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            // SAFETY: plain syscalls on our child (SIGCONT first, in case it is stopped).
            unsafe {
                libc::kill(c.id() as i32, libc::SIGCONT);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `vigil run` in `node`'s folder on `db`, snapshots in the moto server on `s3_port`.
pub fn spawn(node: &mut Node, db: &str, s3_port: u16) {
    spawn_with(node, db, s3_env(s3_port));
}

/// Starts `vigil run` in `node`'s folder on `db` with `env`; its log goes to `run.log` there.
pub fn spawn_with(node: &mut Node, db: &str, env: Vec<(&'static str, String)>) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.join("run.log")).unwrap();
    let child = vigil_command(&node.dir, &["run"])
        .env("VIGIL_DATABASE_URL", db)
        .envs(env)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    node.child = Some(child);
}

/// The S3 client's environment for the moto server on `port`.
pub fn s3_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// The process and every descendant of `pid` (its browsers), from `/proc`.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
            let Some(close) = stat.rfind(')') else { continue };
            let ppid: i32 = stat[close + 2..].split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            if ppid == parent && !all.contains(&p) {
                all.push(p);
            }
        }
        i += 1;
    }
    all
}

pub fn signal_all(pids: &[i32], sig: i32) {
    for &p in pids {
        // SAFETY: plain syscall on processes of this test.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// Waits until `check` returns `Some`, polling every 100 ms.
pub async fn until<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(node, epoch)` of `id`'s live lease.
pub fn lease(db: &str, id: &str) -> Option<(String, i64)> {
    let q = format!(
        "SELECT node, epoch FROM leases WHERE session_id = '{id}' AND node IS NOT NULL \
         AND expires_ms > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    );
    sql(db, &q).into_iter().next().map(|r| (r[0].clone(), r[1].parse().unwrap()))
}

pub fn status(db: &str, id: &str) -> String {
    one(db, &format!("SELECT status FROM sessions WHERE id = '{id}'"))
}

pub fn logs(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} ---\n{}", n.name, std::fs::read_to_string(n.dir.join("run.log")).unwrap_or_default()))
        .collect()
}

/// Links `ids` one after another through the simulator's pretend phone, as the numbers
/// `{prefix}1`, `{prefix}2`, … (each scan takes the QR the simulator shows next), waiting after
/// each scan until one more of them is `ready` in the store.
pub async fn link_in_turn(sim: &wa_sim::Simulator, db: &str, ids: &[&str], prefix: &str, nodes: &[Node]) {
    for i in 0..ids.len() {
        let me = format!("{prefix}{}", i + 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while sim.client().scan(None, Some(&me)).await.is_err() {
            assert!(Instant::now() < deadline, "no QR to scan:\n{}", logs(nodes));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        until(Duration::from_secs(30), "linked", || {
            (ids.iter().filter(|id| status(db, id) == "ready").count() == i + 1).then_some(())
        })
        .await;
    }
}

/// SIGTERM to every running host at once (they drain in parallel), then waits for each.
pub fn stop_all(nodes: &mut [Node]) {
    for n in nodes.iter_mut() {
        if let Some(c) = n.child.as_mut() {
            // SAFETY: plain syscall on our child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }
    for n in nodes.iter_mut() {
        if let Some(mut c) = n.child.take() {
            let _ = c.wait();
        }
    }
}
