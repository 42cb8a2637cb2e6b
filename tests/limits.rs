//! Limits: a handler that loops, grows a huge string or recurses forever is stopped within its
//! limits and reported; the host and the other behaviours go on firing, and so does its own
//! next trigger.

use std::time::{Duration, Instant};

use vigil_tests::{about, is, TestHost};

const W: Duration = Duration::from_secs(15);

const HEALTHY: &str = r#"every("100ms", "beat"); fn beat() { emit("beat") }"#;

async fn stopped_by(bad: &str, config: &str, limit: &str) -> Duration {
    let mut h = TestHost::start(&[("bad", bad), ("healthy", HEALTHY)], config).await;
    let t0 = Instant::now();
    let e = h.wait_for(W, "the bad handler being stopped", |e| about(e, "behaviour.error", "bad")).await;
    let took = t0.elapsed();
    let outcome = &e.data["outcome"];
    assert_eq!(outcome["kind"], "stopped", "{outcome}");
    assert!(outcome["limit"].as_str().unwrap().starts_with(limit), "{outcome}");
    // The other behaviour keeps firing...
    for _ in 0..3 {
        h.wait_for(W, "the healthy behaviour firing", |e| is(e, "beat", "healthy")).await;
    }
    // ...and the bad one's next trigger still fires (and is stopped again).
    h.wait_for(W, "the bad handler's next run", |e| about(e, "behaviour.error", "bad")).await;
    let bad = h.host.behaviours().into_iter().find(|b| b.name == "bad").unwrap();
    assert!(bad.runs >= 2 && bad.failures >= 2, "runs {} failures {}", bad.runs, bad.failures);
    assert!(bad.last_error.unwrap().contains("limit"));
    let trace = bad.traces.last().unwrap();
    assert_eq!(trace.handler, "spin");
    h.stop().await;
    took
}

#[tokio::test]
async fn an_endless_loop_is_cut_by_the_wall_clock_budget() {
    let took = stopped_by(
        r#"every("200ms", "spin"); fn spin() { loop { } }"#,
        "[behaviours.bad.limits]\nrun_budget = \"300ms\"\nmax_operations = 100000000000\n",
        "run_budget",
    )
    .await;
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}

#[tokio::test]
async fn an_endless_loop_is_cut_by_the_operation_limit() {
    stopped_by(
        r#"every("200ms", "spin"); fn spin() { loop { } }"#,
        "[limits]\nmax_operations = 100000\n",
        "max_operations",
    )
    .await;
}

#[tokio::test]
async fn a_huge_string_is_stopped_at_the_size_limit() {
    stopped_by(
        r#"every("200ms", "spin"); fn spin() { let s = "xxxxxxxx"; loop { s += s; } }"#,
        "[limits]\nmax_string_size = 65536\n",
        "max_string_size",
    )
    .await;
}

#[tokio::test]
async fn endless_recursion_is_stopped_at_the_call_depth() {
    stopped_by(r#"every("200ms", "spin"); fn spin() { down(0) } fn down(n) { down(n + 1) }"#, "", "max_call_depth")
        .await;
}

#[tokio::test]
async fn a_top_level_that_never_ends_does_not_block_the_host() {
    let mut h = TestHost::start(
        &[("healthy", HEALTHY)],
        "[behaviours.stuck.limits]\nrun_budget = \"300ms\"\nmax_operations = 100000000000\n",
    )
    .await;
    vigil_tests::write_in_place(&h.script("stuck"), "loop { }");
    let e = h.wait_for(W, "the load error", |e| about(e, "behaviour.error", "stuck")).await;
    assert!(e.data["message"].as_str().unwrap().contains("run_budget"), "{}", e.data);
    h.wait_for(W, "the healthy behaviour firing", |e| is(e, "beat", "healthy")).await;
    h.stop().await;
}
