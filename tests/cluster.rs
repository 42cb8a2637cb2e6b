//! Cluster mode without a browser: a bad `[cluster]` stops `vigil run` with the fix named, and
//! nothing is written. The leases themselves are tested on a real PostgreSQL in
//! `host/src/cluster/tests.rs`, the whole of it end to end in `cluster_e2e.rs` and
//! `cluster_ops_e2e.rs`. A single host's `GET /api/cluster` says cluster mode is off.

use vigil_tests::vigil_command;

#[test]
fn cluster_mode_on_sqlite_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "data_dir = \"./data\"\n[api]\nenabled = false\n[cluster]\nenabled = true\nnode_id = \"one\"\n",
    )
    .unwrap();
    let out = vigil_command(dir.path(), &["run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[cluster] enabled needs a PostgreSQL database_url") && stderr.contains("VIGIL_DATABASE_URL"),
        "{stderr}"
    );
}

#[test]
fn a_lease_ttl_under_three_seconds_is_refused() {
    let Some(db) = vigil_tests::pg::fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "data_dir = \"./data\"\n[api]\nenabled = false\n[cluster]\nenabled = true\nlease_ttl = \"1s\"\n",
    )
    .unwrap();
    let out = vigil_command(dir.path(), &["run"]).env("VIGIL_DATABASE_URL", &db).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("lease_ttl = 1s: use at least 3s"), "{stderr}");
}

#[tokio::test]
async fn a_single_host_says_cluster_mode_is_off() {
    let h = vigil_tests::api::ApiHost::start(&[], Some(vigil_tests::api::TOKEN)).await;
    let r = h.get("/api/cluster").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["enabled"], false, "{body}");
    assert!(body["message"].as_str().unwrap().contains("cluster mode is off on this host"), "{body}");
    h.stop().await;
}
