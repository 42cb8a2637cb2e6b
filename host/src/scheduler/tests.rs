//! The scheduler driven end to end on tokio's paused clock: days of timers in milliseconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, Timelike, Utc};
use chrono_tz::Europe::Madrid;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::scheduler::{Fire, MemoryLastRuns, Missed, Scheduler, TimerInfo, TriggerSpec};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct Rig {
    scheduler: Scheduler,
    clock: Clock,
    last_runs: Arc<MemoryLastRuns>,
    shutdown: CancellationToken,
}

fn rig(start: &str, seed: u64) -> Rig {
    let clock = Clock::starting_at(at(start));
    let last_runs = Arc::new(MemoryLastRuns::new());
    let shutdown = CancellationToken::new();
    let scheduler = Scheduler::new(clock.clone(), Some(seed), last_runs.clone(), shutdown.clone());
    Rig { scheduler, clock, last_runs, shutdown }
}

impl Rig {
    async fn add(&self, owner: &str, spec: TriggerSpec) -> (crate::scheduler::TimerId, mpsc::Receiver<Fire>) {
        let (tx, rx) = mpsc::channel(8);
        let key = format!("{spec} -> {owner}");
        let id = self.scheduler.add(owner, &key, spec, tx).await;
        (id, rx)
    }

    /// Every fire that arrives before the wall time `end` (or until the timer ends).
    async fn collect_until(&self, rx: &mut mpsc::Receiver<Fire>, end: DateTime<Utc>) -> Vec<Fire> {
        let mut fires = Vec::new();
        while let Ok(Some(fire)) = tokio::time::timeout(self.clock.until(end), rx.recv()).await {
            fires.push(fire);
        }
        fires
    }

    /// Lets the timer tasks finish what they do after a delivery.
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn every(every: &str, first: Option<&str>) -> TriggerSpec {
    TriggerSpec::every(every, first).unwrap()
}

fn cron(expr: &str, tz: &str, missed: Missed) -> TriggerSpec {
    TriggerSpec::cron(expr, tz, missed).unwrap()
}

#[tokio::test(start_paused = true)]
async fn jittered_interval_stays_in_range_and_covers_it() {
    let rig = rig("2027-01-04T08:00:00Z", 42);
    let start = rig.clock.now();
    let (id, mut rx) = rig.add("keepalive", every("55m..65m", Some("1m..10m"))).await;

    let mut scheduled = Vec::new();
    for _ in 0..2_000 {
        let fire = rx.recv().await.unwrap();
        assert_eq!(fire.timer, id);
        assert!(!fire.catch_up);
        assert!(fire.fired - fire.scheduled < TimeDelta::seconds(1), "{fire:?}");
        scheduled.push(fire.scheduled);
    }

    let first = scheduled[0] - start;
    assert!(first >= TimeDelta::minutes(1) && first <= TimeDelta::minutes(10), "first fire after {first}");
    let mut by_minute = BTreeMap::<i64, usize>::new();
    for pair in scheduled.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= TimeDelta::minutes(55) && gap <= TimeDelta::minutes(65), "gap {gap}");
        *by_minute.entry(gap.num_minutes()).or_default() += 1;
    }
    for minute in 55..=64 {
        assert!(by_minute.get(&minute).copied().unwrap_or(0) > 100, "gaps by minute: {by_minute:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_jitter() {
    let mut runs = Vec::new();
    for seed in [7, 7, 8] {
        let rig = rig("2027-01-04T08:00:00Z", seed);
        let start = rig.clock.now();
        let (_, mut rx) = rig.add("keepalive", every("55m..65m", Some("1m..10m"))).await;
        let mut scheduled = Vec::new();
        for _ in 0..20 {
            scheduled.push(rx.recv().await.unwrap().scheduled - start);
        }
        runs.push(scheduled);
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
}

/// Fires of `0 2 * * *` in Madrid over the days around a DST change: (local date, hour,
/// minute, UTC offset in hours).
async fn madrid_nightly(start: &str, end: &str) -> Vec<(NaiveDate, u32, u32, i32)> {
    let rig = rig(start, 1);
    let (_, mut rx) = rig.add("nightly", cron("0 2 * * *", "Europe/Madrid", Missed::Skip)).await;
    let fires = rig.collect_until(&mut rx, at(end)).await;
    fires
        .iter()
        .map(|f| {
            assert_eq!(f.fired, f.scheduled, "fired on time");
            let local = f.fired.with_timezone(&Madrid);
            let offset = local.offset().fix().local_minus_utc() / 3600;
            (local.date_naive(), local.hour(), local.minute(), offset)
        })
        .collect()
}

fn day(d: u32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, month, d).unwrap()
}

#[tokio::test(start_paused = true)]
async fn cron_in_madrid_across_spring_forward() {
    // Sunday 2027-03-28: 02:00 CET becomes 03:00 CEST; 02:00 does not exist that day.
    let fires = madrid_nightly("2027-03-25T12:00:00Z", "2027-03-31T12:00:00Z").await;
    assert_eq!(
        fires,
        [
            (day(26, 3), 2, 0, 1),
            (day(27, 3), 2, 0, 1),
            (day(28, 3), 3, 0, 2), // the gap day: the first instant after the gap
            (day(29, 3), 2, 0, 2),
            (day(30, 3), 2, 0, 2),
            (day(31, 3), 2, 0, 2),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cron_in_madrid_across_fall_back_fires_once_on_the_repeated_hour() {
    // Sunday 2027-10-31: 03:00 CEST becomes 02:00 CET; 02:00 happens twice that day.
    let fires = madrid_nightly("2027-10-28T12:00:00Z", "2027-11-02T12:00:00Z").await;
    assert_eq!(
        fires,
        [
            (day(29, 10), 2, 0, 2),
            (day(30, 10), 2, 0, 2),
            (day(31, 10), 2, 0, 2), // once, at the first pass
            (day(1, 11), 2, 0, 1),
            (day(2, 11), 2, 0, 1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn missed_run_once_catches_up_once_at_start() {
    let rig = rig("2027-05-10T12:00:00Z", 1);
    let spec = cron("0 2 * * *", "UTC", Missed::RunOnce);
    let key = format!("{spec} -> nightly");
    rig.last_runs.set("nightly", &key, at("2027-05-08T02:00:00Z"));
    let (tx, mut rx) = mpsc::channel(8);
    rig.scheduler.add("nightly", &key, spec, tx).await;

    let fires = rig.collect_until(&mut rx, at("2027-05-12T12:00:00Z")).await;
    let summary: Vec<_> = fires.iter().map(|f| (f.scheduled, f.fired, f.catch_up)).collect();
    assert_eq!(
        summary,
        [
            // Two runs were missed (the 9th and the 10th); one catch-up, at once.
            (at("2027-05-10T02:00:00Z"), at("2027-05-10T12:00:00Z"), true),
            (at("2027-05-11T02:00:00Z"), at("2027-05-11T02:00:00Z"), false),
            (at("2027-05-12T02:00:00Z"), at("2027-05-12T02:00:00Z"), false),
        ]
    );
    assert_eq!(rig.last_runs.get("nightly", &key), Some(at("2027-05-12T02:00:00Z")));
}

#[tokio::test(start_paused = true)]
async fn missed_run_is_skipped_with_skip_or_without_a_last_run() {
    for (missed, last_run) in [
        (Missed::Skip, Some(at("2027-05-08T02:00:00Z"))),
        (Missed::RunOnce, None),
        // The last run is after the latest occurrence: nothing was missed.
        (Missed::RunOnce, Some(at("2027-05-10T02:00:01Z"))),
    ] {
        let rig = rig("2027-05-10T12:00:00Z", 1);
        let spec = cron("0 2 * * *", "UTC", missed);
        let key = format!("{spec} -> nightly");
        if let Some(last) = last_run {
            rig.last_runs.set("nightly", &key, last);
        }
        let (tx, mut rx) = mpsc::channel(8);
        rig.scheduler.add("nightly", &key, spec, tx).await;
        let fires = rig.collect_until(&mut rx, at("2027-05-11T12:00:00Z")).await;
        let summary: Vec<_> = fires.iter().map(|f| (f.scheduled, f.catch_up)).collect();
        assert_eq!(summary, [(at("2027-05-11T02:00:00Z"), false)], "{missed:?} with last run {last_run:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_timer() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (id, mut rx) = rig.add("keepalive", every("1m", None)).await;
    let fire = rx.recv().await.unwrap();
    assert_eq!(fire.scheduled, at("2027-01-04T08:01:00Z"));

    assert!(rig.scheduler.cancel(id));
    assert!(!rig.scheduler.cancel(id), "already cancelled");
    assert_eq!(rig.scheduler.next_fire(id), None);
    assert!(rig.scheduler.timers(None).is_empty());
    let later = rig.collect_until(&mut rx, at("2027-01-04T14:00:00Z")).await;
    assert!(later.is_empty(), "fires after cancel: {later:?}");
    assert!(rx.recv().await.is_none(), "the timer task dropped its sender");
}

#[tokio::test(start_paused = true)]
async fn cancel_owner_stops_its_timers_and_only_those() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (_, mut a1) = rig.add("a", every("10m", None)).await;
    let (_, mut a2) = rig.add("a", cron("*/5 * * * *", "UTC", Missed::Skip)).await;
    let (_, mut a3) = rig.add("a", TriggerSpec::after("2h").unwrap()).await;
    let (b_id, mut b) = rig.add("b", every("30m", None)).await;

    assert_eq!(rig.scheduler.timers(Some("a")).len(), 3);
    assert_eq!(rig.scheduler.cancel_owner("a"), 3);
    assert_eq!(rig.scheduler.cancel_owner("a"), 0);
    let left: Vec<_> = rig.scheduler.timers(None).iter().map(|t| t.id).collect();
    assert_eq!(left, [b_id]);

    let end = at("2027-01-04T12:10:00Z");
    for rx in [&mut a1, &mut a2, &mut a3] {
        assert!(rig.collect_until(rx, end).await.is_empty());
    }
    let b_fires = rig.collect_until(&mut b, end).await;
    assert_eq!(b_fires.len(), 8, "b fires every 30m for 4h");
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_every_timer() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (_, mut a) = rig.add("a", every("10m", None)).await;
    let (_, mut b) = rig.add("b", cron("0 * * * *", "UTC", Missed::Skip)).await;
    rig.shutdown.cancel();
    assert!(a.recv().await.is_none());
    assert!(b.recv().await.is_none());
    assert!(rig.scheduler.timers(None).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_receiver_ends_the_timer() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (id, rx) = rig.add("gone", every("1h", None)).await;
    assert!(rig.scheduler.next_fire(id).is_some());
    drop(rx);
    rig.settle().await;
    assert!(rig.scheduler.timers(None).is_empty());
    assert_eq!(rig.clock.now(), at("2027-01-04T08:00:00.001Z"), "ended before any fire");
}

#[tokio::test(start_paused = true)]
async fn after_fires_once_and_leaves() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (id, mut rx) = rig.add("once", TriggerSpec::after("5m").unwrap()).await;
    assert_eq!(rig.scheduler.next_fire(id), Some(at("2027-01-04T08:05:00Z")));
    let fires = rig.collect_until(&mut rx, at("2027-01-05T08:00:00Z")).await;
    let times: Vec<_> = fires.iter().map(|f| f.fired).collect();
    assert_eq!(times, [at("2027-01-04T08:05:00Z")]);
    assert!(rig.scheduler.timers(None).is_empty());
    assert_eq!(rig.scheduler.next_fire(id), None);
}

#[tokio::test(start_paused = true)]
async fn timers_report_next_fire_count_and_last_fire() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let spec = every("10m", None);
    let (id, mut rx) = rig.add("keepalive", spec.clone()).await;
    let (cron_id, _cron_rx) = rig.add("nightly", cron("0 2 * * *", "Europe/Madrid", Missed::Skip)).await;

    let info = rig.scheduler.timers(Some("keepalive"));
    assert_eq!(
        info,
        [TimerInfo {
            id,
            owner: "keepalive".into(),
            key: "every 10m -> keepalive".into(),
            spec,
            next_fire: Some(at("2027-01-04T08:10:00Z")),
            fires: 0,
            last_fired: None,
        }]
    );
    // 02:00 in Madrid in winter is 01:00 UTC.
    assert_eq!(rig.scheduler.next_fire(cron_id), Some(at("2027-01-05T01:00:00Z")));

    rx.recv().await.unwrap();
    rig.settle().await;
    let info = rig.scheduler.timer(id).unwrap();
    assert_eq!(info.fires, 1);
    assert_eq!(info.last_fired, Some(at("2027-01-04T08:10:00Z")));
    assert_eq!(info.next_fire, Some(at("2027-01-04T08:20:00Z")));
    assert_eq!(rig.last_runs.get("keepalive", "every 10m -> keepalive"), Some(at("2027-01-04T08:10:00Z")));
}

#[tokio::test(start_paused = true)]
async fn a_slow_receiver_does_not_shift_the_cycle() {
    let rig = rig("2027-01-04T08:00:00Z", 1);
    let (tx, mut rx) = mpsc::channel(1);
    rig.scheduler.add("slow", "every 10m -> slow", every("10m", None), tx).await;
    // Nobody receives for 25 minutes: the 08:20 fire waits 5 minutes to be delivered.
    tokio::time::sleep(Duration::from_secs(25 * 60)).await;
    let fires = rig.collect_until(&mut rx, at("2027-01-04T08:45:00Z")).await;
    let scheduled: Vec<_> = fires.iter().map(|f| f.scheduled.minute()).collect();
    assert_eq!(scheduled, [10, 20, 30, 40]);
}

#[tokio::test(start_paused = true)]
async fn cron_rechecks_the_wall_clock_after_a_jump() {
    let rig = rig("2027-01-04T12:00:00Z", 1);
    let (_, mut rx) = rig.add("nightly", cron("0 2 * * *", "UTC", Missed::Skip)).await;
    // The wall clock jumps three days ahead (a resumed machine) while tokio's clock does not.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(rig.clock.shift(TimeDelta::days(3)));
    let fire = rx.recv().await.unwrap();
    assert_eq!(fire.scheduled, at("2027-01-05T02:00:00Z"));
    assert!(fire.fired - at("2027-01-07T13:00:00Z") <= TimeDelta::minutes(1), "noticed within a nap: {}", fire.fired);
    // The two occurrences inside the jump are not fired one by one; the next is the 8th.
    let next = rx.recv().await.unwrap();
    assert_eq!(next.scheduled, at("2027-01-08T02:00:00Z"));

    // Back by an hour right after firing: the same occurrence does not fire again.
    rig.clock.shift(TimeDelta::hours(-1));
    let after = rx.recv().await.unwrap();
    assert_eq!(after.scheduled, at("2027-01-09T02:00:00Z"));
    assert_eq!(after.fired.day(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_paused_owner_gets_no_fires_records_no_runs_and_keeps_its_schedule() {
    use crate::scheduler::LastRuns as _;
    let rig = rig("2027-01-04T10:00:00Z", 1);
    let (_, mut rx) = rig.add("a", every("10s", None)).await;
    let (_, mut other) = rig.add("b", every("10s", None)).await;
    rig.scheduler.pause_owner("a");
    let fires = rig.collect_until(&mut rx, at("2027-01-04T10:01:05Z")).await;
    assert!(fires.is_empty(), "{fires:?}");
    assert_eq!(rig.scheduler.paused_skips("a"), Some(6));
    assert!(rig.last_runs.last_run("a", "every 10s -> a").await.is_none(), "a skipped fire is not a run");
    assert_eq!(other.try_recv().map(|f| f.owner.to_string()).ok().as_deref(), Some("b"), "other owners fire");
    assert_eq!(rig.scheduler.resume_owner("a"), 6);
    assert_eq!(rig.scheduler.paused_skips("a"), None);
    let fires = rig.collect_until(&mut rx, at("2027-01-04T10:01:25Z")).await;
    let secs: Vec<u32> = fires.iter().map(|f| f.scheduled.second()).collect();
    assert_eq!(secs, [10, 20], "back on its old schedule: {secs:?}");
    rig.shutdown.cancel();
}
