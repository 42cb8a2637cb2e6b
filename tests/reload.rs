//! Hot reload with the real file watcher: edits in place and by rename take effect at the next
//! fire, a broken edit keeps the old version running, unchanged triggers keep their schedule,
//! deletion unloads.

use std::time::Duration;

use vigil_tests::{about, is, write_by_rename, write_in_place, TestHost};

const W: Duration = Duration::from_secs(10);

fn ticker(version: i64) -> String {
    format!(
        r#"
every("100ms", "tick");
every("1h", "hourly");
fn tick() {{ emit("tick", #{{ v: {version} }}); }}
fn hourly() {{ }}
"#
    )
}

async fn tick_version(h: &mut TestHost) -> i64 {
    h.wait_for(W, "a tick", |e| is(e, "tick", "pulse")).await.data["v"].as_i64().unwrap()
}

fn next_fire(h: &TestHost, trigger: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let b = h.host.behaviours().into_iter().find(|b| b.name == "pulse").expect("pulse loaded");
    b.triggers.iter().find(|t| t.trigger == trigger).expect("trigger listed").next_fire
}

#[tokio::test]
async fn an_edit_in_place_runs_at_the_next_fire() {
    let mut h = TestHost::start(&[("pulse", &ticker(1))], "").await;
    assert_eq!(tick_version(&mut h).await, 1);
    write_in_place(&h.script("pulse"), &ticker(2));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    assert_eq!(tick_version(&mut h).await, 2, "the next fire runs the new handler");
    h.stop().await;
}

#[tokio::test]
async fn a_save_by_rename_runs_at_the_next_fire() {
    let mut h = TestHost::start(&[("pulse", &ticker(1))], "").await;
    assert_eq!(tick_version(&mut h).await, 1);
    write_by_rename(&h.script("pulse"), &ticker(3));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    assert_eq!(tick_version(&mut h).await, 3);
    h.stop().await;
}

#[tokio::test]
async fn a_syntax_error_keeps_the_old_version_and_reports_the_line() {
    let mut h = TestHost::start(&[("pulse", &ticker(1))], "").await;
    assert_eq!(tick_version(&mut h).await, 1);
    let broken = "every(\"100ms\", \"tick\");\nfn tick() {\n  emit(\"tick\", #{ v: 9 }\n}\n";
    write_in_place(&h.script("pulse"), broken);
    let err = h.wait_for(W, "the load error", |e| about(e, "behaviour.error", "pulse")).await;
    assert_eq!(err.data["phase"], "load");
    assert_eq!(err.data["line"], 4, "{}", err.data);
    for _ in 0..3 {
        assert_eq!(tick_version(&mut h).await, 1, "the old version keeps firing");
    }
    let view = h.host.behaviours().into_iter().find(|b| b.name == "pulse").unwrap();
    let shown = view.load_error.expect("load error shown");
    assert!(shown.contains("pulse.rhai:4:"), "{shown}");
    // A fixed file is picked up again.
    write_in_place(&h.script("pulse"), &ticker(4));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    assert_eq!(tick_version(&mut h).await, 4);
    assert!(h.host.behaviours().into_iter().find(|b| b.name == "pulse").unwrap().load_error.is_none());
    h.stop().await;
}

#[tokio::test]
async fn an_unchanged_trigger_keeps_its_schedule() {
    let mut h = TestHost::start(&[("pulse", &ticker(1))], "").await;
    let hourly = "every 1h -> hourly";
    let before = next_fire(&h, hourly).expect("hourly scheduled");
    tokio::time::sleep(Duration::from_millis(50)).await;
    write_in_place(&h.script("pulse"), &ticker(2));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    assert_eq!(next_fire(&h, hourly), Some(before), "editing a handler body must not restart the cycle");
    // Changing the spec makes a new trigger with its own schedule.
    write_in_place(&h.script("pulse"), &ticker(2).replace("\"1h\"", "\"2h\""));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    let b = h.host.behaviours().into_iter().find(|b| b.name == "pulse").unwrap();
    assert!(b.triggers.iter().all(|t| t.trigger != hourly), "the old trigger is gone");
    let two = b.triggers.iter().find(|t| t.trigger == "every 2h -> hourly").expect("new trigger");
    assert!(two.next_fire.unwrap() > before, "a 2h cycle starts from the reload");
    h.stop().await;
}

#[tokio::test]
async fn deleting_the_file_unloads_the_behaviour() {
    let mut h = TestHost::start(&[("pulse", &ticker(1))], "").await;
    assert_eq!(tick_version(&mut h).await, 1);
    std::fs::remove_file(h.script("pulse")).unwrap();
    h.wait_for(W, "the unload", |e| about(e, "behaviour.unloaded", "pulse")).await;
    assert!(h.host.behaviours().iter().all(|b| b.name != "pulse"));
    assert!(h.host.scheduler().timers(Some("pulse")).is_empty(), "its timers are cancelled");
    // Ten periods without a tick.
    let quiet =
        tokio::time::timeout(Duration::from_millis(1000), h.wait_for(W, "no tick", |e| is(e, "tick", "pulse"))).await;
    assert!(quiet.is_err(), "no fire after the delete");
    // A new file loads.
    write_in_place(&h.script("pulse"), &ticker(5));
    h.wait_for(W, "the load", |e| about(e, "behaviour.loaded", "pulse")).await;
    assert_eq!(tick_version(&mut h).await, 5);
    h.stop().await;
}

#[tokio::test]
async fn reloading_one_behaviour_leaves_the_others_alone() {
    let other = "every(\"1h\", \"h\"); every(\"100ms\", \"t\"); fn h() {} fn t() { emit(\"other\") }";
    let mut h = TestHost::start(&[("pulse", &ticker(1)), ("other", other)], "").await;
    let b = h.host.behaviours().into_iter().find(|b| b.name == "other").unwrap();
    let (loaded_at, next) = (b.loaded_at, b.triggers[0].next_fire);
    write_in_place(&h.script("pulse"), &ticker(2));
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "pulse")).await;
    h.wait_for(W, "the other behaviour firing", |e| is(e, "other", "other")).await;
    let b = h.host.behaviours().into_iter().find(|b| b.name == "other").unwrap();
    assert_eq!((b.loaded_at, b.reloads, b.triggers[0].next_fire), (loaded_at, 0, next));
    h.stop().await;
}
