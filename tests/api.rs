//! The HTTP API over a real listener with a real client: the token on every route, the happy
//! paths, and the 4xx a person gets for each mistake (with a message that names the thing).
//! Sessions are in memory here; `api_e2e` drives the same routes over real Chromium.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use vigil::sessions::SessionStatus;
use vigil_tests::api::{ApiHost, TOKEN};
use vigil_tests::{about, write_in_place};

/// Every route but `/healthz`, with a request that would succeed given the token.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/events"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/sessions/main"),
    ("DELETE", "/api/sessions/main"),
    ("GET", "/api/sessions/main/qr"),
    ("POST", "/api/sessions/main/logout"),
    ("POST", "/api/sessions/main/restart"),
    ("POST", "/api/sessions/main/backup"),
    ("GET", "/api/sessions/main/backups"),
    ("POST", "/api/sessions/main/restore"),
    ("POST", "/api/sessions/main/messages"),
    ("POST", "/api/sessions/main/pairing-code"),
    ("GET", "/api/sessions/main/history"),
    ("GET", "/api/owners"),
    ("PUT", "/api/owners/ana@example.com"),
    ("DELETE", "/api/owners/ana@example.com"),
    ("GET", "/api/owners/ana@example.com/tokens"),
    ("POST", "/api/owners/ana@example.com/tokens"),
    ("DELETE", "/api/owners/ana@example.com/tokens"),
    ("DELETE", "/api/owners/ana@example.com/tokens/0123456789abcdef"),
    ("POST", "/api/owners/ana@example.com/tokens/0123456789abcdef/rotate"),
    ("GET", "/api/me"),
    ("GET", "/api/behaviours"),
    ("GET", "/api/behaviours/pulse"),
    ("POST", "/api/behaviours/pulse/reload"),
    ("POST", "/api/behaviours/pulse/resume"),
    ("GET", "/api/alerts"),
    ("GET", "/api/alerts/outbox"),
    ("GET", "/api/webhooks/deliveries"),
    ("GET", "/api/silences"),
    ("POST", "/api/silences"),
    ("DELETE", "/api/silences/main"),
    ("GET", "/api/cluster"),
];

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("errors are JSON");
    (status, body["error"].as_str().unwrap_or_else(|| panic!("no `error` in {body}")).to_string())
}

async fn host() -> ApiHost {
    let h = ApiHost::start(
        &[("pulse", "on(\"test.ping\", \"pong\");\nfn pong(e) { emit(\"test.pong\", #{}); }\n")],
        Some(TOKEN),
    )
    .await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    h
}

#[tokio::test]
async fn healthz_needs_no_token_and_every_other_route_does() {
    let h = host().await;
    let r = h.http.get(format!("{}/healthz", h.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    for (method, path) in PROTECTED {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", h.url);
        let (status, msg) = error_of(h.http.request(m.clone(), &url).send().await.unwrap()).await;
        assert_eq!(status, 401, "{method} {path} without a token");
        assert!(msg.contains("VIGIL_API_TOKEN"), "{method} {path}: {msg}");
        let r = h.http.request(m.clone(), &url).bearer_auth("wrong-token").send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        assert!(msg.contains("wrong token"), "{msg}");
        // A token of another length, and one that is a prefix of the right one.
        let r = h.http.request(m, &url).bearer_auth(&TOKEN[..TOKEN.len() - 1]).send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path} with a prefix of the token");
    }
    h.stop().await;
}

#[tokio::test]
async fn without_vigil_api_token_the_api_is_locked_and_says_how_to_open_it() {
    let h = ApiHost::start(&[], None).await;
    assert_eq!(h.http.get(format!("{}/healthz", h.url)).send().await.unwrap().status(), 200);
    for token in [None, Some(""), Some(TOKEN)] {
        let mut r = h.http.get(format!("{}/api/sessions", h.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let (status, msg) = error_of(r.send().await.unwrap()).await;
        assert_eq!(status, 401);
        assert!(msg.contains("set VIGIL_API_TOKEN"), "{msg}");
    }
    h.stop().await;
}

#[tokio::test]
async fn sessions_create_list_get_delete() {
    let h = host().await;
    let r =
        h.post("/api/sessions").json(&json!({"id": "sales-1", "label": "Sales", "start": false})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["id"], "sales-1");
    assert_eq!(s["label"], "Sales");
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["running"], false);
    assert_eq!(s["qr"], Value::Null);
    assert_eq!(s["wa_state"], Value::Null);

    let (status, msg) = error_of(h.post("/api/sessions").json(&json!({"id": "sales-1"})).send().await.unwrap()).await;
    assert_eq!(status, 409);
    assert!(msg.contains("`sales-1` already exists"), "{msg}");

    let list: Value = h.get("/api/sessions").send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["main", "sales-1"]);
    for field in
        ["id", "label", "status", "wa_state", "qr", "running", "last_seen", "restarts", "owner", "phone", "error"]
    {
        assert!(list[0].get(field).is_some(), "field `{field}` in {}", list[0]);
    }
    assert_eq!(list[0]["status"], "ready");
    assert_eq!(list[0]["wa_state"], "CONNECTED");

    let one: Value = h.get("/api/sessions/main").send().await.unwrap().json().await.unwrap();
    assert_eq!(one["id"], "main");

    let r = h.req(Method::DELETE, "/api/sessions/sales-1").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, msg) = error_of(h.get("/api/sessions/sales-1").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("no session `sales-1`"), "{msg}");
    let (status, _) = error_of(h.req(Method::DELETE, "/api/sessions/sales-1").send().await.unwrap()).await;
    assert_eq!(status, 404);
    h.stop().await;
}

#[tokio::test]
async fn bad_ids_unknown_ids_and_bad_bodies_are_4xx_with_a_reason() {
    let h = host().await;
    // Bad ids in the path (encoded, so the client does not resolve `..`) and in bodies.
    for (path, shown) in [("%2E%2E%2Fx", "../x"), ("A%20B", "A B"), ("-x", "-x"), ("a.b", "a.b")] {
        for (m, suffix) in [("GET", ""), ("DELETE", ""), ("GET", "/qr"), ("POST", "/restart"), ("GET", "/backups")] {
            let url = format!("/api/sessions/{path}{suffix}");
            let (status, msg) =
                error_of(h.req(Method::from_bytes(m.as_bytes()).unwrap(), &url).send().await.unwrap()).await;
            assert_eq!(status, 400, "{m} {url}");
            assert!(msg.contains(&format!("bad session id `{shown}`")), "{m} {url}: {msg}");
        }
    }
    let (status, msg) = error_of(h.post("/api/sessions").json(&json!({"id": "../x"})).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(msg.contains("bad session id"), "{msg}");
    // Unknown ids: 404 naming the id.
    for (m, suffix) in
        [("GET", ""), ("POST", "/logout"), ("POST", "/restart"), ("POST", "/backup"), ("GET", "/backups")]
    {
        let url = format!("/api/sessions/ghost{suffix}");
        let (status, msg) =
            error_of(h.req(Method::from_bytes(m.as_bytes()).unwrap(), &url).send().await.unwrap()).await;
        assert_eq!(status, 404, "{m} {url}");
        assert!(msg.contains("`ghost`"), "{msg}");
    }
    // Malformed JSON: 400; missing or unknown fields: 422 with serde's words; no JSON type: 415.
    let raw = |body: &'static str| h.post("/api/sessions").header("content-type", "application/json").body(body).send();
    let (status, msg) = error_of(raw("{\"id\": ").await.unwrap()).await;
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("not valid JSON"), "{msg}");
    let (status, msg) = error_of(raw("{\"label\": \"x\"}").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(msg.contains("missing field `id`"), "{msg}");
    let (status, msg) = error_of(raw("{\"id\": \"x\", \"colour\": 1}").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(msg.contains("unknown field `colour`"), "{msg}");
    let (status, msg) = error_of(h.post("/api/sessions").body("{\"id\":\"x\"}").send().await.unwrap()).await;
    assert_eq!(status, 415);
    assert!(msg.contains("Content-Type: application/json"), "{msg}");
    // Over [api] max_body (64 KiB by default): 413.
    let big = json!({"to": "+34 600 000 001", "text": "a".repeat(70 * 1024)});
    let (status, msg) = error_of(h.post("/api/sessions/main/messages").json(&big).send().await.unwrap()).await;
    assert_eq!(status, 413);
    assert!(msg.contains("max_body"), "{msg}");
    assert!(h.sessions.sent().is_empty());
    // Unknown routes and methods.
    let (status, _) = error_of(h.get("/api/nothing").send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, _) = error_of(h.req(Method::PATCH, "/api/sessions").send().await.unwrap()).await;
    assert_eq!(status, 405);
    h.stop().await;
}

#[tokio::test]
async fn max_body_comes_from_the_config() {
    let h = ApiHost::start_with(&[], Some(TOKEN), "[api]\nmax_body = \"1KiB\"\n").await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let text = "a".repeat(2000);
    let r = h.post("/api/sessions/main/messages").json(&json!({"to": "+34 600 000 001", "text": text})).send().await;
    assert_eq!(r.unwrap().status(), 413);
    let r = h.post("/api/sessions/main/messages").json(&json!({"to": "+34 600 000 001", "text": "hola"})).send().await;
    assert_eq!(r.unwrap().status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn messages_are_sent_with_phone_numbers_checked() {
    let h = host().await;
    let r = h.post("/api/sessions/main/messages").json(&json!({"to": "+34 600 000 001", "text": "hola"})).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let sent = h.sessions.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].to.as_str(), sent[0].text.as_str(), sent[0].id.as_str()),
        ("34600000001@c.us", "hola", id.as_str())
    );
    // The same idempotency key twice: one message.
    for _ in 0..2 {
        let body = json!({"to": "34600000002", "text": "once", "key": "k1"});
        assert_eq!(h.post("/api/sessions/main/messages").json(&body).send().await.unwrap().status(), 200);
    }
    assert_eq!(h.sessions.sent().len(), 2);

    for bad in ["600 000 00a", "0600000000", "+34 600", ""] {
        let body = json!({"to": bad, "text": "x"});
        let (status, msg) = error_of(h.post("/api/sessions/main/messages").json(&body).send().await.unwrap()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(msg.contains("bad phone number") && msg.contains("+34 600 000 000"), "{msg}");
    }
    let body = json!({"to": "+34 600 000 001", "text": "  "});
    let (status, msg) = error_of(h.post("/api/sessions/main/messages").json(&body).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(msg.contains("`text` is empty"), "{msg}");
    let body = json!({"to": "+34 600 000 001", "text": "x"});
    let (status, msg) = error_of(h.post("/api/sessions/ghost/messages").json(&body).send().await.unwrap()).await;
    assert_eq!(status, 404, "{msg}");
    h.sessions.add("cold", SessionStatus::Qr, "UNPAIRED");
    let (status, msg) = error_of(h.post("/api/sessions/cold/messages").json(&body).send().await.unwrap()).await;
    assert_eq!(status, 409);
    assert!(msg.contains("not ready"), "{msg}");
    h.stop().await;
}

#[tokio::test]
async fn the_qr_as_png_svg_and_text_while_waiting_for_a_scan() {
    let h = host().await;
    let (status, msg) = error_of(h.get("/api/sessions/main/qr").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("not waiting for a scan"), "{msg}");
    h.sessions.add("new", SessionStatus::Starting, "OPENING");
    let qr = format!("2@{},{},{},{},1", "A".repeat(60), "B".repeat(44), "C".repeat(44), "D".repeat(44));
    h.sessions.set_qr("new", Some(&qr));
    let s: Value = h.get("/api/sessions/new").send().await.unwrap().json().await.unwrap();
    assert_eq!(s["status"], "qr");
    assert_eq!(s["qr"], qr.as_str());

    let r = h.get("/api/sessions/new/qr").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let png = r.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 500, "{} bytes", png.len());
    let r = h.get("/api/sessions/new/qr?format=svg").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));
    let r = h.get("/api/sessions/new/qr?format=text").send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(r.text().await.unwrap().lines().count() > 20);
    let (status, msg) = error_of(h.get("/api/sessions/new/qr?format=gif").send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(msg.contains("png, svg or text"), "{msg}");
    h.stop().await;
}

#[tokio::test]
async fn logout_restart_backup_and_restore() {
    let h = host().await;
    let s: Value = h.post("/api/sessions/main/restart").send().await.unwrap().json().await.unwrap();
    assert_eq!(s["status"], "ready");
    assert_eq!(h.sessions.actions_of("restart").len(), 1);

    let (status, msg) = error_of(h.post("/api/sessions/main/restore").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("no backup"), "{msg}");
    let r = h.post("/api/sessions/main/backup").send().await.unwrap();
    assert_eq!(r.status(), 201);
    let b: Value = r.json().await.unwrap();
    let name = b["name"].as_str().unwrap().to_string();
    let list: Value = h.get("/api/sessions/main/backups").send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["name"], name.as_str());
    let r = h.post("/api/sessions/main/restore").json(&json!({"backup": name})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], name.as_str());
    let r = h.post("/api/sessions/main/restore").send().await.unwrap();
    assert_eq!(r.status(), 200, "no body: the newest backup");
    let (status, msg) =
        error_of(h.post("/api/sessions/main/restore").json(&json!({"backup": "nope"})).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("no backup `nope`"), "{msg}");
    let (status, _) = error_of(
        h.post("/api/sessions/main/restore").header("content-type", "application/json").body("{").send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) =
        error_of(h.post("/api/sessions/main/restore").json(&json!({"backup": 3})).send().await.unwrap()).await;
    assert_eq!(status, 422);

    let s: Value = h.post("/api/sessions/main/logout").send().await.unwrap().json().await.unwrap();
    assert_eq!(s["status"], "logged_out");
    h.stop().await;
}

#[tokio::test]
async fn owners_are_set_listed_and_deleted() {
    let h = host().await;
    let body = json!({"name": "Ana", "timezone": "Europe/Madrid", "sessions": ["main"]});
    let r = h.req(Method::PUT, "/api/owners/ana@example.com").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let o: Value = r.json().await.unwrap();
    assert_eq!(
        (o["email"].as_str(), o["name"].as_str(), o["timezone"].as_str()),
        (Some("ana@example.com"), Some("Ana"), Some("Europe/Madrid"))
    );
    assert_eq!(o["sessions"], json!(["main"]));
    let list: Value = h.get("/api/owners").send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["email"], "ana@example.com");
    let s: Value = h.get("/api/sessions/main").send().await.unwrap().json().await.unwrap();
    assert_eq!(s["owner"], "ana@example.com", "the session shows its owner");
    // The store has it too (alerts read it from there).
    assert_eq!(h.test.host.store().session_owner("main").await.unwrap().as_deref(), Some("ana@example.com"));

    for (email, body, want) in [
        ("not-an-email", json!({"name": "Ana"}), "not an email address"),
        ("ana@example.com", json!({"name": "Ana", "timezone": "Mars/Olympus"}), "unknown timezone `Mars/Olympus`"),
        ("ana@example.com", json!({"name": " "}), "`name` is empty"),
        ("ana@example.com", json!({"name": "Ana", "sessions": ["A B"]}), "bad session id"),
    ] {
        let (status, msg) =
            error_of(h.req(Method::PUT, &format!("/api/owners/{email}")).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 400, "{body}");
        assert!(msg.contains(want), "{msg}");
    }
    let body = json!({"name": "Ana", "sessions": ["ghost"]});
    let (status, msg) =
        error_of(h.req(Method::PUT, "/api/owners/ana@example.com").json(&body).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("`ghost`"), "{msg}");
    let (status, msg) =
        error_of(h.req(Method::PUT, "/api/owners/ana@example.com").json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(msg.contains("missing field `name`"), "{msg}");

    assert_eq!(h.req(Method::DELETE, "/api/owners/ana@example.com").send().await.unwrap().status(), 204);
    let (status, _) = error_of(h.req(Method::DELETE, "/api/owners/ana@example.com").send().await.unwrap()).await;
    assert_eq!(status, 404);
    let s: Value = h.get("/api/sessions/main").send().await.unwrap().json().await.unwrap();
    assert_eq!(s["owner"], Value::Null);
    h.stop().await;
}

#[tokio::test]
async fn behaviours_are_listed_and_reloaded() {
    let mut h = host().await;
    let list: Value = h.get("/api/behaviours").send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["name"], "pulse");
    assert_eq!(list[0]["kind"], "script");
    assert_eq!(list[0]["status"], "ok");
    assert_eq!(list[0]["triggers"][0]["trigger"], "on test.ping -> pong");
    let one: Value = h.get("/api/behaviours/pulse").send().await.unwrap().json().await.unwrap();
    assert_eq!(one["reloads"], 0);

    write_in_place(&h.test.script("pulse"), "on(\"test.ping\", \"pong2\");\nfn pong2(e) { }\n");
    let r = h.post("/api/behaviours/pulse/reload").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reloads"], 1);
    assert_eq!(v["triggers"][0]["handler"], "pong2");
    h.test.wait_for(Duration::from_secs(5), "the reload event", |e| about(e, "behaviour.reloaded", "pulse")).await;

    write_in_place(&h.test.script("pulse"), "on(\"test.ping\", ");
    let v: Value = h.post("/api/behaviours/pulse/reload").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "load_error", "{v}");
    assert!(v["load_error"].as_str().unwrap().contains("pulse.rhai:1:"), "{v}");

    let (status, msg) = error_of(h.get("/api/behaviours/ghost").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("no behaviour `ghost`"), "{msg}");
    let (status, _) = error_of(h.post("/api/behaviours/ghost/reload").send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, _) = error_of(h.get("/api/behaviours/a%20b").send().await.unwrap()).await;
    assert_eq!(status, 400);
    std::fs::remove_file(h.test.script("pulse")).unwrap();
    let (status, msg) = error_of(h.post("/api/behaviours/pulse/reload").send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(msg.contains("is gone"), "{msg}");
    h.stop().await;
}

#[tokio::test]
async fn alerts_ledger_and_outbox() {
    let h = host().await;
    assert_eq!(h.get("/api/alerts").send().await.unwrap().json::<Value>().await.unwrap(), json!([]));
    let templates = h.test.dir.path().join("scripts/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("down.subject"), "{{ session }} is down").unwrap();
    std::fs::write(templates.join("down.txt"), "Hola {{ user_name }}").unwrap();
    let vars = json!({"session": "main", "to": "ops@example.com"});
    h.test.host.alerts().raise("down:main", "critical", "down", &vars, Duration::from_secs(3600)).await.unwrap();
    let ledger: Value = h.get("/api/alerts").send().await.unwrap().json().await.unwrap();
    assert_eq!(ledger[0]["key"], "down:main");
    assert_eq!(ledger[0]["state"], "firing");
    let outbox: Value = h.get("/api/alerts/outbox?limit=5").send().await.unwrap().json().await.unwrap();
    assert_eq!(outbox[0]["status"], "pending");
    assert_eq!(outbox[0]["to"], "ops@example.com");
    assert_eq!(outbox[0]["subject"], "main is down");
    assert!(outbox[0].get("text").is_none() && outbox[0].get("email").is_none(), "no bodies: {outbox}");
    for bad in ["0", "1001", "x"] {
        let (status, msg) = error_of(h.get(&format!("/api/alerts?limit={bad}")).send().await.unwrap()).await;
        assert_eq!(status, 400, "limit={bad}");
        assert!(msg.contains("limit"), "{msg}");
    }
    h.stop().await;
}

#[tokio::test]
async fn readyz_says_what_is_not_ready() {
    let h = host().await;
    let r = h.get("/readyz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"ready": true, "store": "ok", "sessions": {"main": "running"}})
    );
    h.sessions.set_running("main", false);
    let r = h.get("/readyz").send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["sessions"]["main"], "not running");
    assert!(v["reasons"][0].as_str().unwrap().contains("`main`"), "{v}");
    // A session stopped on purpose is not expected to run.
    h.sessions.add("idle", SessionStatus::Stopped, "");
    h.sessions.set_running("idle", false);
    h.sessions.set_running("main", true);
    assert_eq!(h.get("/readyz").send().await.unwrap().status(), 200);
    h.test.host.store().close().await;
    let r = h.get("/readyz").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["store"], "unreachable");
    h.stop().await;
}

#[tokio::test]
async fn metrics_count_states_events_and_run_durations() {
    let mut h = host().await;
    h.publish("session.restarted", json!({"session": "main", "reason": "test"}));
    h.publish("session.crashed", json!({"session": "main", "cause": "test"}));
    h.publish("message.sent", json!({"session": "main", "id": "x"}));
    h.publish("email.sent", json!({"id": 1}));
    h.publish("email.failed", json!({"id": 2}));
    h.publish("test.ping", json!({}));
    h.test.wait_for(Duration::from_secs(5), "the handler's run", |e| e.name == "test.pong").await;
    write_in_place(&h.test.script("pulse"), "on(\"test.ping\", \"pong\");\nfn pong(e) { }\n");
    h.post("/api/behaviours/pulse/reload").send().await.unwrap();
    // The run is recorded on the board just after its event.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let r = h.get("/metrics").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = r.text().await.unwrap();
        if text.contains("vigil_behaviour_run_duration_seconds_count{behaviour=\"pulse\"} 1")
            && text.contains("vigil_behaviour_reloads_total{behaviour=\"pulse\"} 1")
        {
            break text;
        }
        assert!(Instant::now() < deadline, "metrics never showed the run and the reload:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in [
        "vigil_session_state{session=\"main\",status=\"ready\"} 1",
        "vigil_session_state{session=\"main\",status=\"qr\"} 0",
        "vigil_session_running{session=\"main\"} 1",
        "vigil_session_restarts_total{session=\"main\"} 1",
        "vigil_session_crashes_total{session=\"main\"} 1",
        "vigil_messages_sent_total{session=\"main\"} 1",
        "vigil_alert_emails_sent_total 1",
        "vigil_alert_emails_failed_total 1",
        "vigil_behaviour_run_duration_seconds_bucket{behaviour=\"pulse\",le=\"+Inf\"} 1",
        "vigil_events_total{name=\"test.ping\"} 1",
        "# TYPE vigil_behaviour_run_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no line `{line}` in:\n{text}");
    }
    h.stop().await;
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("an event within 5s");
        match msg.expect("the stream is open").expect("a message") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

#[tokio::test]
async fn events_stream_over_a_websocket_with_a_session_filter() {
    let h = host().await;
    // The token in the query (browsers) and in the header.
    let (mut all, _) = tokio_tungstenite::connect_async(h.ws_url(&format!("?token={TOKEN}"))).await.unwrap();
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(h.ws_url("?session=main"))
            .unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut main, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    h.publish("session.state", json!({"session": "other", "state": "CONFLICT"}));
    h.publish("session.state", json!({"session": "main", "state": "CONNECTED"}));
    h.publish("behaviour.reloaded", json!({"behaviour": "x"}));

    let e = next_json(&mut all).await;
    assert_eq!((e["name"].as_str(), e["data"]["session"].as_str()), (Some("session.state"), Some("other")));
    assert_eq!(e["source"], "test");
    assert!(e["at"].is_string());
    assert_eq!(next_json(&mut all).await["data"]["session"], "main");
    assert_eq!(next_json(&mut all).await["name"], "behaviour.reloaded");
    let e = next_json(&mut main).await;
    assert_eq!(e["data"]["session"], "main", "the filter drops other sessions' events: {e}");
    assert_eq!(next_json(&mut main).await["name"], "behaviour.reloaded", "events of no session pass the filter");

    // Refused handshakes: no token, wrong token, bad session id.
    for q in ["", "?token=nope", &format!("?token={TOKEN}&session=A%20B")] {
        let e = tokio_tungstenite::connect_async(h.ws_url(q)).await.unwrap_err();
        let tokio_tungstenite::tungstenite::Error::Http(resp) = e else { panic!("{q}: {e}") };
        assert_eq!(resp.status().as_u16(), if q.contains("session") { 400 } else { 401 }, "{q}");
    }
    // Not a WebSocket request: 4xx.
    let status = h.get("/events").send().await.unwrap().status();
    assert!(status.is_client_error(), "{status}");
    all.close(None).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_lagging_websocket_client_is_told_how_many_events_it_missed() {
    let h = host().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(h.ws_url(&format!("?token={TOKEN}"))).await.unwrap();
    // On this single-threaded runtime the server cannot forward anything while we publish:
    // 5000 events overflow the bus's buffer of 1024.
    for i in 0..5000 {
        h.publish("test.flood", json!({"i": i}));
    }
    let e = next_json(&mut ws).await;
    assert_eq!(e["name"], "events.lagged", "{e}");
    let missed = e["data"]["missed"].as_u64().unwrap();
    assert!(missed >= 3000, "missed {missed}");
    let e = next_json(&mut ws).await;
    assert_eq!(e["name"], "test.flood", "the stream goes on: {e}");
    h.stop().await;
}

/// The document's operations as (METHOD, concrete path) with the placeholders filled in as
/// in [`PROTECTED`].
fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys().filter(|m| *m != "parameters") {
            out.push((
                m.to_uppercase(),
                path.replace("{id}", "main")
                    .replace("{email}", "ana@example.com")
                    .replace("{name}", "pulse")
                    .replace("{token}", "0123456789abcdef"),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let h = host().await;
    let doc: Value = h.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            if path != "/healthz" {
                for code in ["401", "403"] {
                    assert!(op["responses"][code].is_object(), "{m} {path} documents {code}");
                }
            }
        }
    }
    let mut routes: Vec<(String, String)> = PROTECTED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .chain([("GET".into(), "/healthz".into())])
        .collect();
    routes.sort();
    assert_eq!(documented(&doc), routes, "the document lists exactly the routes");
    // The control calls forwarded in cluster mode document the 503 with Retry-After.
    let mut forwarded: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            if op["responses"]["503"]["$ref"] == "#/components/responses/HolderUnavailable" {
                forwarded.push(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    forwarded.sort();
    let control = ["qr", "pairing-code", "logout", "restart", "backup", "backups", "restore", "messages"];
    let mut want: Vec<String> = ["GET /api/sessions/{id}/qr", "GET /api/sessions/{id}/backups"]
        .into_iter()
        .map(String::from)
        .chain(
            control.iter().filter(|c| !["qr", "backups"].contains(c)).map(|c| format!("POST /api/sessions/{{id}}/{c}")),
        )
        .chain(["DELETE /api/sessions/{id}".to_string()])
        .collect();
    want.sort();
    assert_eq!(forwarded, want, "the forwarded calls document 503");
    assert!(doc["components"]["responses"]["HolderUnavailable"]["headers"]["Retry-After"].is_object());
    // The QR in its three formats; the WebSocket's upgrade.
    let qr = &doc["paths"]["/api/sessions/{id}/qr"]["get"]["responses"]["200"]["content"];
    for format in ["image/png", "image/svg+xml", "text/plain"] {
        assert!(qr[format].is_object(), "the QR as {format}");
    }
    assert!(doc["paths"]["/events"]["get"]["responses"]["101"].is_object(), "/events documents the upgrade");
    h.stop().await;
}

/// What the server does with a request is compared with what the document says, for every
/// path the document or [`PROTECTED`] names and every method: a documented operation is served
/// (401 without a token; `/healthz` 200), anything else on those paths answers 405. So a route
/// served without its operation (a `.route(...)` beside `routes!`, or a method added to a
/// path) fails here, as does an operation the server does not serve.
#[tokio::test]
async fn every_route_served_is_in_the_document() {
    let h = host().await;
    let doc: Value = h.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    let documented = documented(&doc);
    let mut paths: Vec<&str> =
        documented.iter().map(|(_, p)| p.as_str()).chain(PROTECTED.iter().map(|(_, p)| *p)).collect();
    paths.sort();
    paths.dedup();
    let mut served = Vec::new();
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let status = h.http.request(m, format!("{}{path}", h.url)).send().await.unwrap().status();
            match status.as_u16() {
                405 => {}
                200 | 401 => served.push((method.to_string(), path.to_string())),
                other => panic!("{method} {path} without a token answered {other}: expected 401, 405 or (healthz) 200"),
            }
        }
    }
    let undocumented: Vec<_> = served.iter().filter(|op| !documented.contains(op)).collect();
    let unserved: Vec<_> = documented.iter().filter(|op| !served.contains(op)).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in the document: {undocumented:?}; in the document but not served: {unserved:?}"
    );
    h.stop().await;
}

/// schemathesis fuzzes every operation of `/openapi.json` against a live host and fails on any
/// 5xx, and on any status, content type or body the document does not describe (the document
/// is generated from the handlers' annotations and types; this keeps them truthful) — once with the admin token, once with an owner
/// token (who owns `main`: their session routes answer, the rest 403). `tests/run` installs it
/// (PyPI); without it this test fails and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error() {
    let found = std::process::Command::new("schemathesis").arg("--version").output();
    let Ok(version) = found else {
        panic!(
            "schemathesis is not installed, so the API was not fuzzed: install it with \
             `python3 -m pip install schemathesis` (tests/run does), then run this test again"
        );
    };
    println!("{}", String::from_utf8_lossy(&version.stdout).trim());
    let h = host().await;
    h.sessions.add("idle", SessionStatus::Stopped, "");
    schemathesis(&h, TOKEN).await;
    // An owner of `main`, fuzzing with their token (made before the admin's run could delete
    // owners: this host is fresh for it).
    let h2 = host().await;
    let body = json!({"name": "Ana", "sessions": ["main"]});
    assert_eq!(h2.req(Method::PUT, "/api/owners/ana@example.com").json(&body).send().await.unwrap().status(), 200);
    let t: Value =
        h2.post("/api/owners/ana@example.com/tokens").json(&json!({})).send().await.unwrap().json().await.unwrap();
    schemathesis(&h2, t["token"].as_str().unwrap()).await;
    h.stop().await;
    h2.stop().await;
}

async fn schemathesis(h: &ApiHost, token: &str) {
    const CHECKS: &str =
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
    let report = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("schemathesis");
    cmd.arg("run")
        .arg(format!("{}/openapi.json", h.url))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        // One worker: with two threads, hypothesis on CPython 3.11 sometimes fails inside the
        // `ast` module ("AST constructor recursion depth mismatch", fixed in 3.12), an error of
        // the tool's, not of the API.
        .args(["--checks", CHECKS, "--max-examples", "30", "--workers", "1"])
        .args(["--generation-database", "none", "--no-color", "--request-timeout", "30"])
        .current_dir(report.path())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(280), cmd.output())
        .await
        .expect("schemathesis finishes within 280s")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found server errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation of the document the host serves, counted from the document itself
    // (`parameters` shared by a path's operations is no operation; schemathesis leaves out the
    // document it loaded).
    let doc: Value = h.get("/openapi.json").send().await.unwrap().json().await.unwrap();
    let operations = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| *path != "/openapi.json")
        .flat_map(|(_, ops)| ops.as_object().unwrap().keys())
        .filter(|method| *method != "parameters")
        .count();
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "schemathesis tested all {operations} operations:\n{stdout}"
    );
}

/// `vigil run` serves the API where `[api] listen` says, logs the bound address, and stops
/// serving on SIGTERM.
#[tokio::test]
async fn vigil_run_serves_the_api_and_logs_where() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = vigil_tests::vigil_command(dir.path(), &["run"])
        .env("VIGIL_LOG_FORMAT", "json")
        .env("VIGIL_API_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "HTTP API listening" {
                    let _ = tx.send(v["addr"].as_str().unwrap().to_string());
                }
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("vigil run logs `HTTP API listening` with its address");
    let http = vigil_tests::http_client();
    let r = http.get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("http://{addr}/api/sessions")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    assert_eq!(http.get(format!("http://{addr}/api/sessions")).send().await.unwrap().status(), 401);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(http.get(format!("http://{addr}/healthz")).send().await.is_err(), "the API stopped with the host");
}

/// An owner set through the API is who the session's alerts go to.
#[tokio::test]
async fn alerts_go_to_the_owner_set_through_the_api() {
    let h = host().await;
    let templates = h.test.dir.path().join("scripts/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("down.subject"), "{{ session_label }} is down").unwrap();
    std::fs::write(templates.join("down.txt"), "Hola {{ user_name }}").unwrap();
    let body = json!({"name": "Ana", "sessions": ["main"]});
    assert_eq!(h.req(Method::PUT, "/api/owners/ana@example.com").json(&body).send().await.unwrap().status(), 200);
    let vars = json!({"session": "main"});
    h.test.host.alerts().raise("down:main", "critical", "down", &vars, Duration::from_secs(3600)).await.unwrap();
    let outbox = h.test.host.store().outbox(1).await.unwrap();
    assert_eq!(outbox[0].email.to, "ana@example.com");
    assert_eq!(outbox[0].email.text, "Hola Ana");
    h.stop().await;
}

#[tokio::test]
async fn a_pairing_code_is_asked_with_a_persons_number_and_a_bad_one_is_named() {
    let h = host().await;
    for (phone, says) in [("600 abc", "`a` is not a digit"), ("120363000000000000-1@g.us", "is a group")] {
        let r = h.post("/api/sessions/main/pairing-code").json(&json!({ "phone": phone })).send().await.unwrap();
        let (status, msg) = error_of(r).await;
        assert_eq!(status, 400, "{phone}");
        assert!(msg.contains(phone) && msg.contains(says), "{msg}");
    }
    let r =
        h.post("/api/sessions/main/pairing-code").json(&json!({ "number": "+34 600 000 000" })).send().await.unwrap();
    assert_eq!(r.status(), 422, "an unknown field is refused");
    let r =
        h.post("/api/sessions/nope/pairing-code").json(&json!({ "phone": "+34 600 000 000" })).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r =
        h.post("/api/sessions/main/pairing-code").json(&json!({ "phone": "+34 600 000 000" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "code": "MEMO1234" }));
    assert_eq!(h.sessions.actions_of("pairing_code")[0].detail, "34600000000@c.us");
    h.stop().await;
}
