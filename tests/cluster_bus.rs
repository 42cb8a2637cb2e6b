//! Events across hosts on a real PostgreSQL, without browsers: two hosts' stores append event
//! batches at the same time (as two `vigil run` log their buses); a third host's [`Feed`]
//! (`LISTEN vigil_events`) hands its subscribers every one of them, in id order, none twice,
//! each host's in the order it made them, and exactly the rows of the table; a reader that
//! resumes from an id in the middle gets the rest.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use vigil::cluster::{bus, Feed};
use vigil::events::Event;
use vigil::store::Store;
use vigil_tests::pg::fresh_database;

const BATCHES: usize = 40;
const PER_BATCH: usize = 3;

fn batch(host: &str, b: usize) -> Vec<Event> {
    (0..PER_BATCH)
        .map(|i| Event {
            name: "test.tick".into(),
            source: "host".into(),
            at: chrono::Utc::now(),
            data: json!({ "session": host, "n": b * PER_BATCH + i }),
            depth: 0,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_events_reach_a_third_in_id_order_none_twice() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let open = || Store::open(Some(&db), dir.path());
    let (a, b, c) = (open().await.unwrap(), open().await.unwrap(), open().await.unwrap());
    let stop = CancellationToken::new();
    let feed = Feed::start(c.clone(), &db, stop.clone()).await.unwrap();
    let mut rx = feed.subscribe();
    let writers: Vec<_> = [("h1", a), ("h2", b)]
        .into_iter()
        .map(|(host, store)| {
            tokio::spawn(async move {
                for i in 0..BATCHES {
                    bus::append(&store, &batch(host, i)).await.unwrap();
                }
            })
        })
        .collect();
    let total = 2 * BATCHES * PER_BATCH;
    let mut got = Vec::new();
    let t0 = tokio::time::Instant::now();
    while got.len() < total {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {total} events relayed", got.len()))
            .unwrap();
        got.push(e);
    }
    let relay = t0.elapsed();
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("{total} events of 2 writers ({BATCHES} batches each) relayed to a third host's feed in {relay:?}");
    let ids: Vec<i64> = got.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order, none twice: {ids:?}");
    for host in ["h1", "h2"] {
        let n: Vec<u64> =
            got.iter().filter(|e| e.data["session"] == host).map(|e| e.data["n"].as_u64().unwrap()).collect();
        assert_eq!(n, (0..(BATCHES * PER_BATCH) as u64).collect::<Vec<_>>(), "{host}'s events in its order");
    }
    // Exactly the table's rows: nothing stored was skipped.
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = feed.after(after).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().id;
        stored.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(ids, stored);
    // Resuming from the middle gives the rest.
    let mid = ids[ids.len() / 2];
    let rest: Vec<i64> = feed.after(mid).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(rest, ids[ids.len() / 2 + 1..].to_vec());
    stop.cancel();
}
