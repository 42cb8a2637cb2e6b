//! Cluster operations end to end, on the real binary (three `vigil run` processes on one real
//! PostgreSQL, snapshots in the real S3-compatible `moto_server`, real Chromium against the
//! simulator), with the helpers of `cluster_e2e.rs`:
//! - placement: two sessions added with every host up land on two hosts, a third created
//!   through host a's API lands on the idle host c (not on a); `GET /api/cluster` and
//!   `vigil cluster status` show it;
//! - a rolling deploy: SIGTERM and restart of each host in turn; every session stays `ready`
//!   throughout except during its own handover, no QR, no account open twice;
//! - host c reaches PostgreSQL through a TCP proxy the test kills: c kills its browsers
//!   before its leases can expire (the lease's `expires_ms` against when its last browser
//!   was gone), the others take its sessions over with epoch + 1, no overlap.

use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_tests::pg::fresh_database;
use vigil_tests::tcp_proxy::TcpProxy;
use vigil_tests::{processes_mentioning, sessions_toml, simulator, vigil_command};

use super::cluster_e2e::ttl_s;
use vigil_tests::cluster::{
    free_port, lease, link_in_turn, logs, moto, one, s3_env, sql, status, stop_all, until, Node, BUCKET,
};

const TOKEN: &str = "cluster-ops-admin-token";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn spawn(node: &mut Node, db: &str, s3_port: u16, api_port: u16) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.join("run.log")).unwrap();
    let child = vigil_command(&node.dir, &["run"])
        .env("VIGIL_DATABASE_URL", db)
        .env("VIGIL_API_TOKEN", TOKEN)
        .env("VIGIL_API__LISTEN", format!("127.0.0.1:{api_port}"))
        .envs(s3_env(s3_port))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    node.child = Some(child);
}

/// A log line without its ANSI colours.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

fn alive_nodes(db: &str) -> Vec<String> {
    let q = format!(
        "SELECT id FROM nodes WHERE heartbeat_ms > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - {} \
         AND NOT draining ORDER BY id",
        ttl_s() * 1000
    );
    sql(db, &q).into_iter().map(|r| r[0].clone()).collect()
}

fn held_by(db: &str, ids: &[&str], node: &str) -> Vec<String> {
    ids.iter().filter(|id| lease(db, id).is_some_and(|(n, _)| n == node)).map(|s| s.to_string()).collect()
}

/// Waits until every session of `moved` runs on a node other than `from`, `ready`, with the
/// record written under its new lease's epoch; returns their new `(node, epoch)`.
async fn moved_off(db: &str, moved: &[String], from: &str, within: Duration) -> Vec<(String, i64)> {
    until(within, &format!("{moved:?} ready off {from}"), || {
        let mut out = Vec::new();
        for id in moved {
            let l = lease(db, id)?;
            let ok = l.0 != from
                && status(db, id) == "ready"
                && one(db, &format!("SELECT epoch FROM sessions WHERE id = '{id}'")) == l.1.to_string();
            if !ok {
                return None;
            }
            out.push(l);
        }
        Some(out)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_cluster_rolling_restart_and_database_loss_without_qr_or_overlap() {
    vigil_tests::init_tracing();
    let Some(db) = fresh_database() else { return };
    let sim = simulator().await;
    let s3 = moto().await;
    // Host c's PostgreSQL is behind a proxy this test kills.
    let rest = db.split_once("://").unwrap().1;
    let (userhost, name) = rest.split_once('/').unwrap();
    let (user, hostport) = userhost.rsplit_once('@').unwrap();
    let proxy = TcpProxy::start(hostport.to_string()).await;
    let c_db = format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.port);
    let root = tempfile::tempdir().unwrap();
    let ttl = ttl_s();
    let mut nodes: Vec<Node> = Vec::new();
    let mut ports = Vec::new();
    for name in ["a", "b", "c"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let toml = format!(
            "data_dir = \"./data\"\nscripts_dir = \"./scripts\"\nplugins_dir = \"./plugins\"\n\
             [cluster]\nenabled = true\nnode_id = \"{name}\"\nmax_sessions = 3\nlease_ttl = \"{ttl}s\"\n\
             snapshots = \"s3://{BUCKET}/ops\"\nsnapshot_interval = \"10m\"\n{}",
            sessions_toml(sim.https_port(), "")
        );
        std::fs::write(dir.join("vigil.toml"), toml).unwrap();
        nodes.push(Node { name: name.into(), dir, child: None });
        ports.push(free_port());
    }
    // The CLI runs in a folder of its own (the hosts' data folders are theirs).
    let admin = root.path().join("admin");
    std::fs::create_dir_all(admin.join("scripts")).unwrap();
    std::fs::write(admin.join("vigil.toml"), "data_dir = \"./data\"\n[api]\nenabled = false\n").unwrap();
    let db_of = |i: usize| if i == 2 { c_db.clone() } else { db.clone() };
    // The schema first (one migration run), then the three hosts.
    let out = vigil_command(&admin, &["session", "list"]).env("VIGIL_DATABASE_URL", &db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (i, n) in nodes.iter_mut().enumerate() {
        spawn(n, &db_of(i), s3.port, ports[i]);
    }
    until(Duration::from_secs(60), "three nodes alive", || (alive_nodes(&db).len() == 3).then_some(())).await;

    // Placement: s1, s2 added (store) go to a and b (fewest leases, ties by id); s3 created
    // through a's API goes to c, the least-loaded, not to a.
    for id in ["s1", "s2"] {
        let out = vigil_command(&admin, &["session", "add", id]).env("VIGIL_DATABASE_URL", &db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    until(Duration::from_secs(30), "s1 and s2 leased", || {
        (lease(&db, "s1").is_some() && lease(&db, "s2").is_some()).then_some(())
    })
    .await;
    let http = vigil_tests::http_client();
    let api = |i: usize, path: &str| format!("http://127.0.0.1:{}{path}", ports[i]);
    let r = http
        .post(api(0, "/api/sessions"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "id": "s3" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let ids = ["s1", "s2", "s3"];
    let placed = until(Duration::from_secs(30), "s3 leased", || lease(&db, "s3")).await;
    let mut hosts: Vec<String> = ids.iter().map(|id| lease(&db, id).unwrap().0).collect();
    assert_eq!(placed.0, "c", "created through a, placed on the idle host: {hosts:?}\n{}", logs(&nodes));
    hosts.sort();
    assert_eq!(hosts, ["a", "b", "c"], "spread evenly");
    link_in_turn(&sim, &db, &ids, "3460000001", &nodes).await;
    until(Duration::from_secs(60), "a snapshot of each after linking", || {
        let n: i64 = one(&db, "SELECT COUNT(DISTINCT session_id) FROM snapshots").parse().unwrap();
        (n == 3).then_some(())
    })
    .await;

    // Any host answers for the cluster: the API and `vigil cluster status`.
    let report: serde_json::Value =
        http.get(api(1, "/api/cluster")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["enabled"], true, "{report}");
    assert_eq!(report["node"], "b");
    assert!(report["nodes"].as_array().unwrap().iter().all(|n| n["alive"] == true && n["held"] == 1), "{report}");
    let s3_place = report["placement"].as_array().unwrap().iter().find(|p| p["session"] == "s3").unwrap().clone();
    assert_eq!((s3_place["node"].as_str(), s3_place["status"].as_str()), (Some("c"), Some("ready")), "{report}");
    let out = vigil_command(&nodes[1].dir, &["cluster", "status", "--url", &api(1, "")])
        .env("VIGIL_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        table.contains("b (this host)") && table.lines().any(|l| l.starts_with("s3 ") && l.contains(" c ")),
        "{table}"
    );
    eprintln!("vigil cluster status:\n{table}");

    // Every 250 ms, every session's status in the store.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut samples: Vec<(i64, String, String)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = now_ms();
                for r in sql(&db, "SELECT id, status FROM sessions ORDER BY id") {
                    samples.push((t, r[0].clone(), r[1].clone()));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            samples
        })
    };
    let t_start = now_ms();
    // (from, to, sessions moving) of each handover.
    let mut windows: Vec<(i64, i64, Vec<String>)> = Vec::new();

    // 1. Rolling deploy: c, a, b in turn (this order leaves c holding a session for part 2).
    for i in [2usize, 0, 1] {
        let name = nodes[i].name.clone();
        let moving = held_by(&db, &ids, &name);
        assert!(!moving.is_empty(), "{name} holds a session before its restart\n{}", logs(&nodes));
        let epochs: Vec<i64> = moving.iter().map(|id| lease(&db, id).unwrap().1).collect();
        let t0 = now_ms();
        let clock = Instant::now();
        let mut child = nodes[i].child.take().unwrap();
        // SAFETY: plain syscall on our child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let exited = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        assert!(exited.success(), "{name} drains and exits cleanly: {exited:?}\n{}", logs(&nodes));
        let drained = clock.elapsed();
        let now = moved_off(&db, &moving, &name, Duration::from_secs(ttl + 40)).await;
        eprintln!("rolling: {name} drained in {drained:?}; {moving:?} ready on {now:?} after {:?}", clock.elapsed());
        // The drain uploaded a snapshot of each under the epoch it held.
        for (id, epoch) in moving.iter().zip(&epochs) {
            let n = one(
                &db,
                &format!("SELECT COUNT(*) FROM snapshots WHERE session_id = '{id}' AND epoch = {epoch} AND node = '{name}' AND at_ms >= {t0}"),
            );
            assert_ne!(n, "0", "{name} drained {id} without a snapshot\n{}", logs(&nodes));
            // ... and said so in the shared event log (stored before its log stopped, so
            // relayed to the other hosts' /events too).
            let said = one(
                &db,
                &format!(
                    "SELECT COUNT(*) FROM events WHERE name = 'cluster.drained' AND at_ms >= {t0} \
                     AND data LIKE '%\"session\":\"{id}\"%' AND data LIKE '%\"node\":\"{name}\"%'"
                ),
            );
            assert_eq!(said, "1", "{name}'s cluster.drained of {id} is in the event log\n{}", logs(&nodes));
        }
        windows.push((t0, now_ms(), moving));
        spawn(&mut nodes[i], &db_of(i), s3.port, ports[i]);
        until(Duration::from_secs(60), "the restarted host is back", || alive_nodes(&db).contains(&name).then_some(()))
            .await;
    }
    // Drain time per session (close, snapshot, release), from the hosts' logs.
    for n in &nodes {
        let log = std::fs::read_to_string(n.dir.join("run.log")).unwrap_or_default();
        for l in log.lines().map(plain).filter(|l| l.contains("drained") && l.contains("ms=")) {
            eprintln!("{}: {}", n.name, l.trim());
        }
    }

    // 2. Host c loses its database.
    let lost = held_by(&db, &ids, "c");
    assert!(!lost.is_empty(), "c holds a session after the rolling deploy\n{}", logs(&nodes));
    let t0 = now_ms();
    proxy.kill();
    // Its leases can no longer be renewed: their expiry is final (read after any renewal in
    // flight when the proxy died).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expires: i64 = lost
        .iter()
        .map(|id| one(&db, &format!("SELECT expires_ms FROM leases WHERE session_id = '{id}'")).parse::<i64>().unwrap())
        .min()
        .unwrap();
    let c_sessions = format!("{}/data/sessions", nodes[2].dir.display());
    let gone = until(Duration::from_secs(ttl + 10), "c's browsers are gone", || {
        processes_mentioning(&c_sessions).is_empty().then(now_ms)
    })
    .await;
    eprintln!(
        "database loss: c's browsers gone {} ms after the cut, {} ms before its lease expired",
        gone - t0,
        expires - gone
    );
    assert!(gone < expires, "c killed its browsers {} ms after its lease expired\n{}", gone - expires, logs(&nodes));
    // What c did after the cut, from its log: what stopped its browsers, and when.
    let c_log = std::fs::read_to_string(nodes[2].dir.join("run.log")).unwrap_or_default();
    let cut = chrono::DateTime::from_timestamp_millis(t0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for l in c_log.lines().map(plain).filter(|l| l.get(..23).is_some_and(|at| at >= &cut[..23])).take(40) {
        eprintln!("c after the cut: {}", l.trim());
    }
    let old: Vec<i64> = lost
        .iter()
        .map(|id| one(&db, &format!("SELECT epoch FROM leases WHERE session_id = '{id}'")).parse().unwrap())
        .collect();
    let now = moved_off(&db, &lost, "c", Duration::from_secs(ttl + 40)).await;
    for ((_, epoch), old) in now.iter().zip(&old) {
        assert_eq!(*epoch, old + 1, "taken over with epoch + 1");
    }
    eprintln!("database loss: {lost:?} ready on {now:?} {} ms after the cut", now_ms() - t0);
    windows.push((t0, now_ms(), lost));

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let outside: Vec<_> = samples
        .iter()
        .filter(|(t, id, st)| {
            st != "ready" && !windows.iter().any(|(from, to, moving)| from <= t && t <= to && moving.contains(id))
        })
        .collect();
    assert!(samples.len() > 30, "the sampler ran: {}", samples.len());
    assert!(outside.is_empty(), "a session was not ready outside its own handover: {outside:?}\n{windows:?}");
    let qrs = one(&db, &format!("SELECT COUNT(*) FROM events WHERE name = 'session.qr' AND at_ms >= {t_start}"));
    assert_eq!(qrs, "0", "never a QR after linking");
    let st = sim.client().status().await.unwrap();
    assert_eq!(st.overlaps, 0, "no account open twice: {st:?}\n{}", logs(&nodes));

    // c cannot drain without its database: kill it; the others drain.
    if let Some(mut c) = nodes[2].child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    stop_all(&mut nodes);
    vigil_tests::assert_no_leftovers(&root.path().display().to_string(), Duration::from_secs(20)).await;
    drop(s3);
    sim.stop().await;
}
