//! Alert silences and escalation with a real SMTP server process (aiosmtpd) on a short real
//! clock: the real `scripts/monitor.rhai` sees a silenced session disconnect → no email while
//! the silence lasts, the ledger says `silenced`; when it ends the still-open alert is sent
//! once; after `[alerts.escalation] after` it reaches `to` once. A silence expired early sends
//! what it held, an alert resolved while silenced sends nothing. Over the API: bad input is a
//! 400 naming the field, an owner token silences its own sessions only (403 otherwise), and
//! silences survive a host restart on SQLite and on PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vigil::sessions::SessionStatus;
use vigil_tests::api::{ApiHost, TOKEN};
use vigil_tests::smtp::{decoded, SmtpServer};

const W: Duration = Duration::from_secs(20);

fn templates() -> String {
    format!("{:?}", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates"))
}

fn smtp_config(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\n\
         retry_min = \"200ms\"\nretry_max = \"1s\"\n\
         [alerts]\nto = [\"ops@example.com\"]\ntemplates_dir = {}\n",
        templates()
    )
}

/// Messages received so far, counted by recipient (every message the server ever got).
fn by_recipient(smtp: &SmtpServer) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in smtp.messages() {
        let to = m.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or("?").trim().to_string();
        *out.entry(to).or_insert(0) += 1;
    }
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The ledger entry `key` as `GET /api/alerts` shows it.
async fn alert(h: &ApiHost, key: &str) -> Option<Value> {
    let list: Value = h.get("/api/alerts").send().await.unwrap().json().await.unwrap();
    list.as_array().unwrap().iter().find(|a| a["key"] == key).cloned()
}

/// Polls `GET /api/alerts` until `key` satisfies `pred`.
async fn wait_alert(h: &ApiHost, key: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + W;
    loop {
        if let Some(a) = alert(h, key).await {
            if pred(&a) {
                return a;
            }
        }
        assert!(Instant::now() < deadline, "{what}: {:?}", alert(h, key).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn silence(h: &ApiHost, token: &str, body: Value) -> (StatusCode, Value) {
    let r = h.http.post(format!("{}/api/silences", h.url)).bearer_auth(token).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_disconnection_is_held_then_sent_once_and_escalated_once() {
    let smtp = SmtpServer::start(0);
    let monitor =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/monitor.rhai"))
            .unwrap();
    let config = format!(
        "{}[alerts.escalation]\nto = [\"oncall@example.com\"]\nafter = \"2s\"\n\
         [behaviours.monitor.params]\nevery = \"200ms\"\ntimeout = \"100ms\"\n\
         [owners.\"ana@example.com\"]\nname = \"Ana\"\nsessions = [\"main\"]\n",
        smtp_config(smtp.port)
    );
    let h = ApiHost::start_with(&[("monitor", &monitor)], Some(TOKEN), &config).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");

    let (status, s) =
        silence(&h, TOKEN, json!({"matcher": {"session": "main"}, "until": "3s", "reason": "phone in repair"})).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!((s["created_by"].as_str(), s["state"].as_str()), (Some("admin"), Some("active")), "{s}");
    let ends: chrono::DateTime<chrono::Utc> = s["ends"].as_str().unwrap().parse().unwrap();

    // The phone is unlinked: monitor raises `disconnected:main`, and the silence holds it.
    h.sessions.set_wa_state("main", "UNPAIRED");
    let held = wait_alert(&h, "disconnected:main", "the alert is held", |a| a["state"] == "silenced").await;
    assert_eq!(held["silenced_by"], json!([s["id"]]), "{held}");
    assert_eq!(held["sent_count"], 0, "{held}");
    assert_eq!(held["escalation"]["state"], "held", "{held}");
    // No email while the silence lasts (checked until just before it ends).
    while chrono::Utc::now() < ends - chrono::Duration::milliseconds(300) {
        assert!(smtp.messages().is_empty(), "an email went out during the silence: {:?}", by_recipient(&smtp));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The silence ends and the alert is still open: the owner gets it, once.
    smtp.wait_for(1, W);
    let fired = wait_alert(&h, "disconnected:main", "the alert fired", |a| a["state"] == "firing").await;
    assert_eq!((fired["sent_count"].as_i64(), fired["silenced_by"].clone()), (Some(1), json!([])), "{fired}");
    assert_eq!(fired["escalation"]["state"], "pending", "{fired}");
    let first = decoded(&smtp.messages()[0]);
    assert!(first.contains("To: ana@example.com") && first.contains("UNPAIRED"), "{first}");

    // Two seconds after it went out, still open: escalated to on-call, once.
    smtp.wait_for(2, W);
    let esc = wait_alert(&h, "disconnected:main", "the escalation is recorded", |a| a["escalated"].is_string()).await;
    assert_eq!(esc["escalation"]["state"], "sent", "{esc}");
    let escalated = smtp.messages().into_iter().map(|m| decoded(&m)).find(|m| m.contains("To: oncall@example.com"));
    let escalated = escalated.expect("an email to oncall@example.com");
    assert!(escalated.contains("[escalated]") && escalated.contains("ana@example.com"), "{escalated}");
    // Several escalation periods and monitor runs later: one each, counted from the start.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(by_recipient(&smtp), counts(&[("ana@example.com", 1), ("oncall@example.com", 1)]));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_silence_sends_what_it_held_and_an_alert_resolved_meanwhile_sends_nothing() {
    let smtp = SmtpServer::start(0);
    let h = ApiHost::start_with(&[], Some(TOKEN), &smtp_config(smtp.port)).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    h.sessions.add("lab", SessionStatus::Ready, "CONNECTED");
    let (status, s) =
        silence(&h, TOKEN, json!({"matcher": {"alert": "inactive"}, "until": "1h", "reason": "quiet week"})).await;
    assert_eq!(status, 201, "{s}");
    let alerts = h.test.host.alerts();
    let day = Duration::from_secs(86_400);
    for id in ["main", "lab"] {
        let vars = json!({"session": id, "days": 6, "reason": "Sesión inactiva por 6 días."});
        alerts.raise(&format!("inactive:{id}"), "warning", "inactive", &vars, day).await.unwrap();
    }
    // One that the silence does not match goes out at once.
    let vars = json!({"session": "main", "reason": "La página de WhatsApp no responde"});
    alerts.raise("disconnected:main", "critical", "disconnected", &vars, day).await.unwrap();
    smtp.wait_for(1, W);
    assert_eq!(alert(&h, "inactive:main").await.unwrap()["state"], "silenced");
    assert!(!alerts.resolve("inactive:lab").await.unwrap(), "resolved while silenced: no notice");
    assert_eq!(alert(&h, "inactive:lab").await.unwrap()["state"], "resolved");

    let r = h.req(Method::DELETE, &format!("/api/silences/{}", s["id"])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ended: Value = r.json().await.unwrap();
    assert_eq!((ended["state"].as_str(), ended["expired_by"].as_str()), (Some("expired"), Some("admin")), "{ended}");
    smtp.wait_for(2, W);
    wait_alert(&h, "inactive:main", "the held alert fired", |a| a["state"] == "firing" && a["sent_count"] == 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all: Vec<String> = smtp.messages().iter().map(|m| decoded(m)).collect();
    assert_eq!(all.len(), 2, "the unmatched alert and the held one, nothing for the resolved one: {all:?}");
    assert!(all.iter().any(|m| m.contains("inactiva") && m.contains("\"main\"")), "{all:?}");
    assert!(!all.iter().any(|m| m.contains("\"lab\"")), "nothing about lab: {all:?}");
    let listed: Value = h.get("/api/silences").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["state"], "expired", "recently expired silences are listed: {listed}");
    h.stop().await;
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("errors are JSON");
    (status, body["error"].as_str().unwrap_or_else(|| panic!("no `error` in {body}")).to_string())
}

#[tokio::test]
async fn bad_silences_are_400s_naming_the_field() {
    let h = ApiHost::start(&[], Some(TOKEN)).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let ok = json!({"matcher": {"session": "main"}, "until": "2h", "reason": "r"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let past = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    for (body, names) in [
        (with("matcher", json!({"session": "nosuch"})), &["matcher.session", "nosuch", "GET /api/sessions"][..]),
        (with("matcher", json!({"sesion": "main"})), &["unknown matcher field `sesion`", "matcher.session"]),
        (with("matcher", json!({"session": "main", "alert": "x"})), &["both"]),
        (with("matcher", json!({"session": "Bad Id"})), &["matcher.session"]),
        (with("until", json!(past)), &["`until`", "not in the future"]),
        (with("until", json!("soon")), &["`until`", "soon", "2h"]),
        (with("reason", json!("  ")), &["`reason` is empty"]),
        (json!({"matcher": {"session": "main"}, "until": "2h"}), &["`reason` is missing"]),
        (with("extra", json!(1)), &["unknown field `extra`"]),
    ] {
        let (status, m) = error_of(h.post("/api/silences").json(&body).send().await.unwrap()).await;
        assert_eq!(status, 400, "{body}: {m}");
        for n in names {
            assert!(m.contains(n), "{body}: {m:?} should name {n:?}");
        }
    }
    let (status, m) = error_of(h.req(Method::DELETE, "/api/silences/abc").send().await.unwrap()).await;
    assert_eq!(status, 400, "{m}");
    let (status, m) = error_of(h.req(Method::DELETE, "/api/silences/99").send().await.unwrap()).await;
    assert_eq!(status, 404, "{m}");
    let listed: Value = h.get("/api/silences").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([]), "nothing was stored");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_token_silences_its_own_sessions_only() {
    let h = ApiHost::start(&[], Some(TOKEN)).await;
    let mut tokens = Vec::new();
    for (email, session) in [("ana@example.com", "a1"), ("bo@example.com", "b1")] {
        h.sessions.add(session, SessionStatus::Ready, "CONNECTED");
        let body = json!({"name": "X", "sessions": [session]});
        assert_eq!(h.req(Method::PUT, &format!("/api/owners/{email}")).json(&body).send().await.unwrap().status(), 200);
        let t: Value =
            h.post(&format!("/api/owners/{email}/tokens")).json(&json!({})).send().await.unwrap().json().await.unwrap();
        tokens.push(t["token"].as_str().unwrap().to_string());
    }
    let (ana, bo) = (&tokens[0], &tokens[1]);
    let body = |m: Value| json!({"matcher": m, "until": "1h", "reason": "r"});
    let (status, mine) = silence(&h, ana, body(json!({"session": "a1"}))).await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(mine["created_by"], "owner ana@example.com");
    for m in [json!({"session": "b1"}), json!({"session": "nosuch"}), json!({"alert": "disconnected"})] {
        let (status, e) = silence(&h, ana, body(m.clone())).await;
        assert_eq!(status, 403, "{m}: {e}");
        assert!(e["error"].as_str().unwrap().contains("scope: owner ana@example.com"), "{m}: {e}");
    }
    let (status, theirs) = silence(&h, bo, body(json!({"session": "b1"}))).await;
    assert_eq!(status, 201);
    let (_, global) = silence(&h, TOKEN, body(json!({"alert": "health"}))).await;
    let ids = |v: Value| v.as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let get = |t: &str| h.http.get(format!("{}/api/silences", h.url)).bearer_auth(t.to_string()).send();
    assert_eq!(ids(get(ana).await.unwrap().json().await.unwrap()), [mine["id"].as_i64().unwrap()], "ana sees hers");
    assert_eq!(ids(get(TOKEN).await.unwrap().json().await.unwrap()).len(), 3, "the admin sees all");
    let expire =
        |t: &str, id: &Value| h.http.delete(format!("{}/api/silences/{id}", h.url)).bearer_auth(t.to_string()).send();
    for id in [&theirs["id"], &global["id"]] {
        let (status, m) = error_of(expire(ana, id).await.unwrap()).await;
        assert_eq!(status, 403, "{m}");
        assert!(m.contains("scope: owner ana@example.com"), "{m}");
    }
    assert_eq!(expire(ana, &mine["id"]).await.unwrap().status(), 200);
    assert_eq!(expire(TOKEN, &theirs["id"]).await.unwrap().status(), 200, "the admin expires anyone's");
    h.stop().await;
}

/// A silence made through the API is there, still active, for the next host on the same store,
/// and holds an alert there; expired, the alert's email is queued, and escalated a second later
/// (no SMTP server: the emails wait in the outbox). Every ledger query of silences and
/// escalation runs on the backend.
async fn silences_survive_a_restart(database_url: &str) {
    let config = format!(
        "database_url = {database_url:?}\n[alerts]\nto = [\"ops@example.com\"]\ntemplates_dir = {}\n\
         [alerts.escalation]\nto = [\"oncall@example.com\"]\nafter = \"1s\"\n",
        templates()
    );
    let h = ApiHost::start_with(&[], Some(TOKEN), &config).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let (status, s) =
        silence(&h, TOKEN, json!({"matcher": {"session": "main"}, "until": "2h", "reason": "restart test"})).await;
    assert_eq!(status, 201, "{s}");
    h.stop().await;
    let h = ApiHost::start_with(&[], Some(TOKEN), &config).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let listed: Value = h.get("/api/silences").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([s]), "the same silence, still active, after the restart");

    let vars = json!({"session": "main", "reason": "La página de WhatsApp no responde"});
    let day = Duration::from_secs(86_400);
    h.test.host.alerts().raise("disconnected:main", "critical", "disconnected", &vars, day).await.unwrap();
    let held = alert(&h, "disconnected:main").await.unwrap();
    assert_eq!((held["state"].as_str(), held["silenced_by"].clone()), (Some("silenced"), json!([s["id"]])), "{held}");
    assert!(h.test.host.store().outbox(10).await.unwrap().is_empty(), "nothing queued while silenced");
    assert_eq!(h.req(Method::DELETE, &format!("/api/silences/{}", s["id"])).send().await.unwrap().status(), 200);
    wait_alert(&h, "disconnected:main", "released and escalated", |a| a["escalation"]["state"] == "sent").await;
    let mut to: Vec<String> = h.test.host.store().outbox(10).await.unwrap().into_iter().map(|e| e.email.to).collect();
    to.sort();
    assert_eq!(to, ["oncall@example.com", "ops@example.com"], "the held email, then its escalation");
    h.stop().await;
}

#[tokio::test]
async fn silences_survive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    silences_survive_a_restart(&format!("sqlite://{}?mode=rwc", dir.path().join("vigil.db").display())).await;
}

#[tokio::test]
async fn silences_survive_a_restart_on_postgres() {
    let Some(url) = vigil_tests::pg::fresh_database() else { return };
    silences_survive_a_restart(&url).await;
}

/// Runs `vigil <args> --url <url>` in `dir` (off the async threads), with `token` in
/// `VIGIL_API_TOKEN`; returns success and stdout + stderr.
async fn cli(dir: &std::path::Path, url: &str, args: &[&str], token: Option<&str>) -> (bool, String) {
    let mut c = vigil_tests::vigil_command(dir, args);
    c.args(["--url", url]);
    if let Some(t) = token {
        c.env("VIGIL_API_TOKEN", t);
    }
    let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + String::from_utf8_lossy(&out.stderr).as_ref(),
    )
}

/// `vigil silence add|list|expire` against a running host's API, and its errors: a bad
/// duration (the API's own message), no token, no host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_and_expires_silences_through_the_api() {
    let h = ApiHost::start(&[], Some(TOKEN)).await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let dir = tempfile::tempdir().unwrap();
    let (d, url) = (dir.path(), h.url.as_str());
    let add = ["silence", "add", "--session", "main", "--for", "2h", "--reason", "phone in repair"];
    let (ok, out) = cli(d, url, &add, Some(TOKEN)).await;
    assert!(ok && out.contains("silence 1 made") && out.contains("session main"), "{out}");
    let (ok, out) = cli(d, url, &["silence", "list"], Some(TOKEN)).await;
    assert!(ok && out.contains("active") && out.contains("phone in repair"), "{out}");
    let bad = ["silence", "add", "--session", "main", "--for", "soon", "--reason", "r"];
    let (ok, out) = cli(d, url, &bad, Some(TOKEN)).await;
    assert!(!ok && out.contains("`until`") && out.contains("soon"), "{out}");
    let (ok, out) = cli(d, url, &["silence", "expire", "1"], Some(TOKEN)).await;
    assert!(ok && out.contains("silence 1 ended"), "{out}");
    let listed: Value = h.get("/api/silences").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["state"], "expired", "{listed}");
    let (ok, out) = cli(d, url, &["silence", "list"], None).await;
    assert!(!ok && out.contains("VIGIL_API_TOKEN"), "{out}");
    let nobody = format!("http://127.0.0.1:{}", vigil_tests::smtp::free_port());
    let (ok, out) = cli(d, &nobody, &["silence", "list"], Some(TOKEN)).await;
    assert!(!ok && out.contains("cannot reach the host's API") && out.contains("vigil run"), "{out}");
    h.stop().await;
}
