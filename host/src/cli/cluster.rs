//! `vigil cluster status`: the nodes, leases (with their epochs) and placement of the cluster,
//! asked of the running host's API (`GET /api/cluster`, admin token from `VIGIL_API_TOKEN`),
//! printed as tables (or the JSON with `--json`).

use std::process::ExitCode;

use clap::Subcommand;

use crate::cluster::ClusterReport;

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Show the nodes, leases and placement, from the running host's API.
    Status {
        /// The host's API. Default: `http://` + `[api] listen` of the config.
        #[arg(long, env = "VIGIL_API_URL")]
        url: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `action`; the exit code says whether it worked.
pub async fn main(config_path: Option<&std::path::Path>, action: ClusterAction) -> ExitCode {
    let ClusterAction::Status { url, json } = action;
    let url = match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => match crate::config::load(config_path, std::env::vars()) {
            Ok((c, _)) => format!("http://{}", c.api.listen.replace("0.0.0.0", "127.0.0.1")),
            Err(e) => {
                eprintln!("vigil: bad configuration: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match fetch(&url).await {
        Ok(body) if json => {
            println!("{}", serde_json::to_string_pretty(&body).expect("serializable"));
            ExitCode::SUCCESS
        }
        Ok(body) => {
            print!("{}", render(&body));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil cluster status: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch(url: &str) -> Result<serde_json::Value, String> {
    let token = crate::api::token_from_env()
        .ok_or("set VIGIL_API_TOKEN to the running host's admin token (GET /api/cluster needs it)")?;
    crate::webhooks::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let endpoint = format!("{url}/api/cluster");
    let res = http.get(&endpoint).bearer_auth(token).send().await.map_err(|e| {
        format!("cannot reach the host at {url} ({e}): is `vigil run` running with [api] enabled? Pass --url or set VIGIL_API_URL")
    })?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("{endpoint}: reading the answer: {e}"))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| format!("{endpoint} answered {status}, not JSON: {text:.200}"))?;
    if !status.is_success() {
        let why = body["error"].as_str().unwrap_or(&text);
        return Err(format!("{endpoint} answered {status}: {why}"));
    }
    Ok(body)
}

fn ago(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The report as text tables (or the sentence of a host whose cluster mode is off).
pub fn render(body: &serde_json::Value) -> String {
    if body["enabled"] != serde_json::Value::Bool(true) {
        return format!("{}\n", body["message"].as_str().unwrap_or("cluster mode is off on this host"));
    }
    let r: ClusterReport = match serde_json::from_value(body.clone()) {
        Ok(r) => r,
        Err(e) => return format!("the host answered a cluster report this vigil cannot read ({e}): {body}\n"),
    };
    let mut rows =
        vec![vec!["NODE".to_string(), "CAPACITY".into(), "SESSIONS".into(), "LAST HEARTBEAT".into(), "STATE".into()]];
    for n in &r.nodes {
        let state = match (n.alive, n.draining) {
            (true, false) => "alive",
            (true, true) => "draining",
            (false, _) => "dead",
        };
        let me = if n.id == r.node { " (this host)" } else { "" };
        rows.push(vec![
            format!("{}{me}", n.id),
            n.max_sessions.to_string(),
            n.held.to_string(),
            format!("{} ago", ago(n.heartbeat_age_ms)),
            state.into(),
        ]);
    }
    let mut out = format!(
        "cluster: {} node(s), {} session(s), lease TTL {}\n\n",
        r.nodes.len(),
        r.placement.len(),
        ago(r.lease_ttl_ms)
    );
    out.push_str(&table(&rows));
    let mut rows = vec![vec!["SESSION".to_string(), "NODE".into(), "EPOCH".into(), "LEASE".into(), "STATUS".into()]];
    for p in &r.placement {
        let lease = r.leases.iter().find(|l| l.session == p.session);
        let state = match lease {
            None => "never leased".to_string(),
            Some(l) if l.live => format!("expires in {}", ago(l.expires_ms - r.now_ms)),
            Some(l) if l.node.is_none() => "released".into(),
            Some(_) => "expired".into(),
        };
        rows.push(vec![
            p.session.clone(),
            p.node.clone().unwrap_or_else(|| "-".into()),
            p.epoch.to_string(),
            state,
            p.status.clone(),
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    out
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(v, &w)| format!("{v:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn renders_nodes_and_placement_or_says_cluster_mode_is_off() {
        let off = super::render(&crate::cluster::off_report());
        assert!(off.contains("cluster mode is off"), "{off}");
        let body = json!({
            "enabled": true, "node": "a", "lease_ttl_ms": 15000, "now_ms": 100_000,
            "nodes": [
                {"id": "a", "max_sessions": 3, "held": 1, "heartbeat_ms": 99_000, "heartbeat_age_ms": 1000, "alive": true, "draining": false},
                {"id": "b", "max_sessions": 3, "held": 0, "heartbeat_ms": 50_000, "heartbeat_age_ms": 50_000, "alive": false, "draining": false}
            ],
            "leases": [{"session": "s1", "node": "a", "epoch": 2, "expires_ms": 112_500, "live": true}],
            "placement": [
                {"session": "s1", "node": "a", "epoch": 2, "status": "ready"},
                {"session": "s2", "node": null, "epoch": 0, "status": "stopped"}
            ]
        });
        let text = super::render(&body);
        assert!(text.contains("a (this host)  3         1         1.0s ago        alive"), "{text}");
        assert!(text.contains("dead"), "{text}");
        assert!(text.contains("s1       a     2      expires in 12.5s  ready"), "{text}");
        assert!(text.contains("s2       -     0      never leased"), "{text}");
    }
}
