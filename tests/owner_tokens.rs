//! Per-owner API tokens over the real API, on SQLite and on PostgreSQL: an owner's token sees
//! and acts on that owner's sessions only, 403 naming the scope elsewhere, 401 at once when
//! revoked or rotated away; the store keeps no token in clear.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;
use vigil::sessions::SessionStatus;
use vigil_tests::api::{ApiHost, TOKEN};

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("errors are JSON");
    (status, body["error"].as_str().unwrap_or_else(|| panic!("no `error` in {body}")).to_string())
}

fn as_owner(h: &ApiHost, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    h.http.request(method, format!("{}{path}", h.url)).bearer_auth(token)
}

/// Two owners with a session each; returns (ana's token, its id, bo's token, its id).
async fn two_owners(h: &ApiHost) -> (String, String, String, String) {
    h.sessions.add("a1", SessionStatus::Ready, "CONNECTED");
    h.sessions.add("b1", SessionStatus::Ready, "CONNECTED");
    let mut out = Vec::new();
    for (email, session) in [("ana@example.com", "a1"), ("bo@example.com", "b1")] {
        let r = h
            .req(Method::PUT, &format!("/api/owners/{email}"))
            .json(&json!({"name": "X", "sessions": [session]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r =
            h.post(&format!("/api/owners/{email}/tokens")).json(&json!({"label": "dashboard"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["owner"], email);
        assert_eq!(t["label"], "dashboard");
        out.push((t["token"].as_str().unwrap().to_string(), t["id"].as_str().unwrap().to_string()));
    }
    let (b, a) = (out.pop().unwrap(), out.pop().unwrap());
    (a.0, a.1, b.0, b.1)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Every text message until one named `until` (included).
async fn names_until(ws: &mut Ws, until: &str) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event within 10s");
        if let Message::Text(t) = msg.expect("the stream is open").expect("a message") {
            let v: Value = serde_json::from_str(&t).unwrap();
            let name = v["name"].as_str().unwrap().to_string();
            got.push((name.clone(), v["data"]["session"].clone()));
            if name == until {
                return got;
            }
        }
    }
}

/// What must hold on either backend. `db_text` reads everything stored about tokens.
async fn owner_tokens_are_scoped(h: ApiHost, db_text: impl Fn() -> String) {
    let (ana, ana_id, bo, bo_id) = two_owners(&h).await;
    assert_ne!(ana, bo);

    // Listing and getting: ana's only.
    let list: Value = as_owner(&h, &ana, Method::GET, "/api/sessions").send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1"], "ana sees her session only");
    let all: Value = h.get("/api/sessions").send().await.unwrap().json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2, "the admin sees both");
    assert_eq!(as_owner(&h, &ana, Method::GET, "/api/sessions/a1").send().await.unwrap().status(), 200);
    let me: Value = as_owner(&h, &ana, Method::GET, "/api/me").send().await.unwrap().json().await.unwrap();
    assert_eq!(me, json!({"scope": "owner", "owner": "ana@example.com", "token": ana_id}));

    // Acting: on hers, yes; on bo's (or one that does not exist), 403 naming the scope.
    let msg = json!({"to": "+34 600 000 000", "text": "hola"});
    let r = as_owner(&h, &ana, Method::POST, "/api/sessions/a1/messages").json(&msg).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(as_owner(&h, &ana, Method::POST, "/api/sessions/a1/restart").send().await.unwrap().status(), 200);
    for (method, path) in [
        (Method::GET, "/api/sessions/b1"),
        (Method::GET, "/api/sessions/b1/qr"),
        (Method::POST, "/api/sessions/b1/restart"),
        (Method::POST, "/api/sessions/b1/backup"),
        (Method::POST, "/api/sessions/b1/logout"),
        (Method::GET, "/api/sessions/nosuch"),
    ] {
        let (status, m) = error_of(as_owner(&h, &ana, method.clone(), path).send().await.unwrap()).await;
        assert_eq!(status, 403, "{method} {path}: {m}");
        assert!(m.contains("scope: owner ana@example.com"), "{method} {path}: {m}");
    }
    let (status, m) =
        error_of(as_owner(&h, &ana, Method::POST, "/api/sessions/b1/messages").json(&msg).send().await.unwrap()).await;
    assert_eq!(status, 403, "{m}");
    assert_eq!(h.sessions.sent().len(), 1, "only ana's message was sent");
    assert_eq!(h.sessions.sent()[0].session, "a1");

    // Admin routes: 403, naming the scope and the admin token.
    for (method, path) in [
        (Method::GET, "/api/owners"),
        (Method::PUT, "/api/owners/ana@example.com"),
        (Method::GET, "/api/owners/ana@example.com/tokens"),
        (Method::POST, "/api/owners/ana@example.com/tokens"),
        (Method::POST, "/api/sessions"),
        (Method::DELETE, "/api/sessions/a1"),
        (Method::GET, "/api/behaviours"),
        (Method::GET, "/api/alerts"),
        (Method::GET, "/api/alerts/outbox"),
        (Method::GET, "/metrics"),
        (Method::GET, "/readyz"),
        (Method::GET, "/api/cluster"),
    ] {
        let (status, m) =
            error_of(as_owner(&h, &ana, method.clone(), path).json(&json!({})).send().await.unwrap()).await;
        assert_eq!(status, 403, "{method} {path}: {m}");
        assert!(m.contains("scope: owner ana@example.com") && m.contains("VIGIL_API_TOKEN"), "{method} {path}: {m}");
    }

    // Events: ana's stream carries a1's events only (recorded from the first message on).
    let ws_url = |t: &str| format!("{}/events?token={t}", h.url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&ana)).await.unwrap();
    let (mut admin_ws, _) = tokio_tungstenite::connect_async(ws_url(TOKEN)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.publish("test.one", json!({"session": "a1"}));
    h.publish("test.other", json!({"session": "b1"}));
    h.publish("test.host", json!({}));
    h.publish("test.end", json!({"session": "a1"}));
    let got = names_until(&mut ws, "test.end").await;
    assert_eq!(
        got,
        [("test.one".to_string(), json!("a1")), ("test.end".to_string(), json!("a1"))],
        "ana's stream: only a1's events"
    );
    let admin_got = names_until(&mut admin_ws, "test.end").await;
    assert!(admin_got.iter().any(|(n, _)| n == "test.other"), "the admin's stream has every event: {admin_got:?}");
    let r = tokio_tungstenite::connect_async(format!("{}&session=b1", ws_url(&ana))).await;
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("ana asking for b1's events: {:?}", other.map(|_| ())),
    }

    // The store holds hashes, never the tokens.
    let stored = db_text();
    for (token, id) in [(&ana, &ana_id), (&bo, &bo_id)] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!stored.contains(secret), "a token's secret is in the store in clear");
        let hash: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert!(stored.contains(&hash) && stored.contains(id.as_str()), "the store has the token's id and hash");
    }
    let listed: Value = h.get("/api/owners/ana@example.com/tokens").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none() && !listed.to_string().contains(ana.as_str()), "{listed}");

    // Revoked: 401 at once, and the open stream is closed.
    let r = h.req(Method::DELETE, &format!("/api/owners/ana@example.com/tokens/{ana_id}")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, m) = error_of(as_owner(&h, &ana, Method::GET, "/api/sessions").send().await.unwrap()).await;
    assert_eq!(status, 401, "a revoked token: {m}");
    assert!(m.contains("revoked") && m.contains(&ana_id), "{m}");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the revoked owner's stream is closed within 10s");
    assert_eq!(closed, Some(4401));

    // Rotated: the old one 401, the new one works, with the same label.
    let r = h.post(&format!("/api/owners/bo@example.com/tokens/{bo_id}/rotate")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let new: Value = r.json().await.unwrap();
    let bo2 = new["token"].as_str().unwrap();
    assert_eq!(new["label"], "dashboard");
    assert_eq!(as_owner(&h, &bo, Method::GET, "/api/sessions/b1").send().await.unwrap().status(), 401);
    assert_eq!(as_owner(&h, bo2, Method::GET, "/api/sessions/b1").send().await.unwrap().status(), 200);
    // Revoking all, and a made-up token of the right shape.
    assert_eq!(h.req(Method::DELETE, "/api/owners/bo@example.com/tokens").send().await.unwrap().status(), 204);
    assert_eq!(as_owner(&h, bo2, Method::GET, "/api/sessions").send().await.unwrap().status(), 401);
    let fake = format!("vot_{}_{}", "0".repeat(16), "1".repeat(64));
    let (status, m) = error_of(as_owner(&h, &fake, Method::GET, "/api/sessions").send().await.unwrap()).await;
    assert_eq!(status, 401, "{m}");
    // An unknown owner gets no token.
    let r = h.post("/api/owners/nobody@example.com/tokens").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_tokens_on_sqlite() {
    let h = ApiHost::start(&[], Some(TOKEN)).await;
    let data = h.test.dir.path().join("data");
    // Every byte SQLite wrote: the database and its write-ahead log.
    let read = move || {
        let mut all = Vec::new();
        for f in ["vigil.db", "vigil.db-wal"] {
            all.extend(std::fs::read(data.join(f)).unwrap_or_default());
        }
        String::from_utf8_lossy(&all).into_owned()
    };
    owner_tokens_are_scoped(h, read).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_tokens_on_postgres() {
    let Some(url) = vigil_tests::pg::fresh_database() else { return };
    let h = ApiHost::start_with(&[], Some(TOKEN), &format!("database_url = {url:?}\n")).await;
    let read = move || {
        let out = std::process::Command::new("psql")
            .arg(&url)
            .args(["-Atc", "SELECT * FROM owner_tokens"])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    owner_tokens_are_scoped(h, read).await;
}

/// `vigil owner token` writes to the store a running host reads: made, listed (never shown
/// again), revoked.
#[tokio::test]
async fn the_cli_makes_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = vigil_tests::vigil_command(dir.path(), args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["owner", "token", "create", "ana@example.com"]);
    assert!(!ok && err.contains("vigil owner set ana@example.com"), "{err}");
    assert!(run(&["owner", "set", "ana@example.com", "--name", "Ana"]).0);
    let (ok, out, err) = run(&["owner", "token", "create", "ana@example.com", "--label", "phone"]);
    assert!(ok, "{err}");
    let token = out.lines().find(|l| l.starts_with("vot_")).unwrap_or_else(|| panic!("no token in {out}")).to_string();
    let id = token.split('_').nth(1).unwrap().to_string();
    let (ok, out, _) = run(&["owner", "token", "list", "ana@example.com"]);
    assert!(ok && out.contains(&id) && out.contains("phone") && out.contains("live") && !out.contains(&token), "{out}");
    let (ok, _, err) = run(&["owner", "token", "revoke", "ana@example.com"]);
    assert!(!ok && err.contains("--all"), "{err}");
    assert!(run(&["owner", "token", "revoke", "ana@example.com", &id]).0);
    let (_, out, _) = run(&["owner", "token", "list", "ana@example.com"]);
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, err) = run(&["owner", "token", "rotate", "ana@example.com", &id]);
    assert!(!ok && err.contains("no live token"), "{err}");
}
