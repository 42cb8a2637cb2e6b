//! Cluster mode end to end: three `vigil run` processes of the real binary on one real
//! PostgreSQL, snapshots in a real S3-compatible server (`moto_server`, from PyPI
//! `moto[server]`, started here on a free loopback port), real Chromium against the simulator.
//! Three linked sessions, one per host; then
//! - the newest snapshot of one session is corrupted in storage and its host is killed with
//!   `kill -9`: the session is `ready` on another host within TTL + restore time, without a
//!   QR, from the previous snapshot (the corrupt one refused by its checksums, an event says
//!   so);
//! - another host is frozen (SIGSTOP of it and its browsers, as a paused machine) past its TTL:
//!   its session moves; on SIGCONT it finds its epoch stale, kills its browser, and the store
//!   keeps no write of the old epoch;
//! - through it all the simulator saw no account open in two live pages at once.

use std::time::{Duration, Instant};

use vigil_tests::cluster::{
    lease, link_in_turn, logs, moto, one, s3_env, signal_all, spawn, sql, status, stop_all, tree, until, Node, BUCKET,
};
use vigil_tests::pg::fresh_database;
use vigil_tests::{assert_no_leftovers, processes_mentioning, sessions_toml, simulator, vigil_command};

/// The lease TTL, 6 s unless `VIGIL_TEST_CLUSTER_TTL` says otherwise (to measure failover at
/// production TTLs: `VIGIL_TEST_CLUSTER_TTL=15 tests/run -E 'test(chromium_cluster)'`).
pub(crate) fn ttl_s() -> u64 {
    std::env::var("VIGIL_TEST_CLUSTER_TTL").ok().and_then(|v| v.parse().ok()).unwrap_or(6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_cluster_kill9_and_freeze_move_sessions_without_qr_or_overlap() {
    vigil_tests::init_tracing();
    let Some(db) = fresh_database() else { return };
    let sim = simulator().await;
    let s3 = moto().await;
    let root = tempfile::tempdir().unwrap();
    let ids = ["s1", "s2", "s3"];
    let ttl = ttl_s();
    let mut nodes: Vec<Node> = Vec::new();
    for name in ["a", "b", "c"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let toml = format!(
            "data_dir = \"./data\"\nscripts_dir = \"./scripts\"\nplugins_dir = \"./plugins\"\n\
             [api]\nenabled = false\n\
             [cluster]\nenabled = true\nnode_id = \"{name}\"\nmax_sessions = 3\nlease_ttl = \"{ttl}s\"\n\
             snapshots = \"s3://{BUCKET}/cluster\"\nsnapshot_interval = \"8s\"\n{}",
            sessions_toml(sim.https_port(), "")
        );
        std::fs::write(dir.join("vigil.toml"), toml).unwrap();
        nodes.push(Node { name: name.into(), dir, child: None });
    }
    for id in ids {
        let out =
            vigil_command(&nodes[0].dir, &["session", "add", id]).env("VIGIL_DATABASE_URL", &db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for n in nodes.iter_mut() {
        spawn(n, &db, s3.port);
    }

    // One session per host (fair shares), each showing a QR; the phone links them one by one.
    let placed: Vec<(String, i64)> = until(Duration::from_secs(30), "every session leased", || {
        let l: Vec<_> = ids.iter().filter_map(|id| lease(&db, id)).collect();
        (l.len() == 3).then_some(l)
    })
    .await;
    let mut hosts: Vec<&str> = placed.iter().map(|(n, _)| n.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, ["a", "b", "c"], "spread evenly: {placed:?}");
    link_in_turn(&sim, &db, &ids, "3460000000", &nodes).await;
    // Snapshots after linking, then a periodic one of s1.
    until(Duration::from_secs(60), "snapshots after linking and a periodic one", || {
        let n = |id: &str| {
            one(&db, &format!("SELECT COUNT(*) FROM snapshots WHERE session_id = '{id}'")).parse::<i64>().unwrap()
        };
        (n("s1") >= 2 && n("s2") >= 1 && n("s3") >= 1).then_some(())
    })
    .await;
    let snap = sql(&db, "SELECT key, bytes FROM snapshots WHERE session_id = 's1' ORDER BY id DESC");
    let (newest, previous) = (snap[0][0].clone(), snap[1][0].clone());
    eprintln!("snapshot sizes (bytes): {:?}", snap.iter().map(|r| r[1].clone()).collect::<Vec<_>>());

    // 1. Corrupt s1's newest snapshot in storage, then kill -9 the host running s1.
    // SAFETY: this test runs in its own process (nextest); nothing reads the environment
    // concurrently while it is set.
    for (k, v) in s3_env(s3.port) {
        unsafe { std::env::set_var(k, v) };
    }
    let store = vigil::store::Store::open(Some(&db), root.path()).await.unwrap();
    let snaps = vigil::cluster::Snapshots::open(&format!("s3://{BUCKET}"), store.clone(), 5).unwrap();
    let garbage = object_store::PutPayload::from(b"\x28\xb5\x2f\xfdnot a snapshot".to_vec());
    object_store::ObjectStoreExt::put(snaps.objects().as_ref(), &newest.as_str().into(), garbage).await.unwrap();
    let (host1, epoch1) = lease(&db, "s1").unwrap();
    let victim = nodes.iter().position(|n| n.name == host1).unwrap();
    let t0 = Instant::now();
    let t0_ms = chrono::Utc::now().timestamp_millis();
    {
        let c = nodes[victim].child.as_mut().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        nodes[victim].child = None;
    }
    let (host1b, epoch1b) = until(Duration::from_secs(ttl + 30), "s1 ready elsewhere", || {
        let l = lease(&db, "s1")?;
        (l.0 != host1
            && status(&db, "s1") == "ready"
            && one(&db, "SELECT epoch FROM sessions WHERE id = 's1'") == l.1.to_string())
        .then_some(l)
    })
    .await;
    let failover = t0.elapsed();
    eprintln!("failover kill -9 → ready elsewhere at TTL {ttl}s: {failover:?} ({host1} → {host1b})");
    assert_eq!(epoch1b, epoch1 + 1, "a takeover is epoch + 1");
    let refused = one(
        &db,
        &format!("SELECT data FROM events WHERE name = 'session.snapshot_refused' AND data LIKE '%\"s1\"%' AND at_ms >= {t0_ms}"),
    );
    assert!(
        refused.contains(&newest) && refused.contains("corrupt"),
        "the corrupt snapshot is refused: {refused:?}\n{}",
        logs(&nodes)
    );
    let restored = one(
        &db,
        &format!("SELECT data FROM events WHERE name = 'session.snapshot_restored' AND data LIKE '%\"s1\"%' AND at_ms >= {t0_ms}"),
    );
    assert!(restored.contains(&previous), "the previous snapshot is used: {restored:?}");
    eprintln!("restore: {restored}");
    let qrs = one(&db, &format!("SELECT COUNT(*) FROM events WHERE name = 'session.qr' AND at_ms >= {t0_ms}"));
    assert_eq!(qrs, "0", "no QR after the kill");
    let st = sim.client().status().await.unwrap();
    assert_eq!(st.overlaps, 0, "no account open twice: {st:?}");

    // 2. Freeze the host of s2 (and its browsers) past its TTL.
    let (host2, epoch2) = lease(&db, "s2").unwrap();
    let frozen = nodes.iter().position(|n| n.name == host2).unwrap();
    assert_ne!(frozen, victim);
    let pids = tree(nodes[frozen].pid());
    assert!(pids.len() > 1, "the host and its browser");
    signal_all(&pids, libc::SIGSTOP);
    let t1 = Instant::now();
    let (host2b, epoch2b) = until(Duration::from_secs(ttl + 30), "s2 ready elsewhere", || {
        let l = lease(&db, "s2")?;
        (l.0 != host2
            && status(&db, "s2") == "ready"
            && one(&db, "SELECT epoch FROM sessions WHERE id = 's2'") == l.1.to_string())
        .then_some(l)
    })
    .await;
    eprintln!("failover SIGSTOP → ready elsewhere: {:?} ({host2} → {host2b})", t1.elapsed());
    assert_eq!(epoch2b, epoch2 + 1);
    let taken_ms = chrono::Utc::now().timestamp_millis();
    signal_all(&pids, libc::SIGCONT);
    // It sees its epoch is stale and kills its browser.
    let stale_dir = format!("{}/data/sessions", nodes[frozen].dir.display());
    until(Duration::from_secs(10), "the stale host's browser is gone", || {
        processes_mentioning(&stale_dir).is_empty().then_some(())
    })
    .await;
    // Had a thawed browser lived on, its page would boot again within a few seconds (its event
    // stream is gone) and open its account beside the new holder's: an overlap.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let row = sql(&db, "SELECT status, epoch FROM sessions WHERE id = 's2'");
    assert_eq!(
        row[0],
        ["ready".to_string(), epoch2b.to_string()],
        "no write of the old epoch after the takeover\n{}",
        logs(&nodes)
    );
    let old = one(
        &db,
        &format!("SELECT COUNT(*) FROM snapshots WHERE session_id = 's2' AND epoch = {epoch2} AND at_ms >= {taken_ms}"),
    );
    assert_eq!(old, "0", "no snapshot of the old epoch after the takeover");
    let lost = one(
        &db,
        &format!(
            "SELECT COUNT(*) FROM events WHERE name = 'cluster.lease_lost' AND data LIKE '%\"node\":\"{host2}\"%'"
        ),
    );
    assert_ne!(lost, "0", "the stale host says it lost the lease\n{}", logs(&nodes));
    let st = sim.client().status().await.unwrap();
    assert_eq!(st.overlaps, 0, "no account open twice: {st:?}\n{}", logs(&nodes));
    assert!(st.pages.iter().all(|p| p.state == "CONNECTED"), "no page got CONFLICT: {st:?}");
    for id in ids {
        assert_eq!(status(&db, id), "ready", "{id}\n{}", logs(&nodes));
    }

    let timings = sql(&db, "SELECT data FROM events WHERE name = 'session.snapshot'");
    let field = |k: &str| -> Vec<i64> {
        timings.iter().filter_map(|r| serde_json::from_str::<serde_json::Value>(&r[0]).ok()?[k].as_i64()).collect()
    };
    eprintln!(
        "snapshots: archive ms {:?}, upload ms {:?}, bytes {:?}",
        field("archive_ms"),
        field("upload_ms"),
        field("bytes")
    );

    stop_all(&mut nodes);
    assert_no_leftovers(&root.path().display().to_string(), Duration::from_secs(15)).await;
    drop(s3);
    sim.stop().await;
}
