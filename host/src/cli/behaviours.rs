//! `vigil behaviours`: what the running host (or the scripts folder) has loaded.

use super::*;

pub(super) fn show_behaviours(config: &Config, json: bool) -> ExitCode {
    let path = snapshot_path(config);
    let snap: Snapshot = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "vigil: no behaviour status at {} ({e}): start the host with `vigil run` (same data_dir)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&snap).expect("serializable"));
        return ExitCode::SUCCESS;
    }
    let alive = pid_alive(snap.host_pid);
    println!(
        "host pid {} ({}), status written {}",
        snap.host_pid,
        if alive { "running" } else { "not running: this is its last state" },
        snap.written_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if snap.behaviours.is_empty() {
        println!("no behaviours loaded");
    }
    for b in &snap.behaviours {
        println!();
        println!(
            "{}  {}  loaded {}, {} reload{}, {} run{}, {} failure{}",
            b.name,
            b.path.display(),
            b.loaded_at.format("%Y-%m-%d %H:%M:%S"),
            b.reloads,
            plural(b.reloads),
            b.runs,
            plural(b.runs),
            b.failures,
            plural(b.failures)
        );
        if let Some(e) = &b.load_error {
            println!("  ! the file does not load (the previous version runs): {e}");
        }
        if let Some(e) = &b.last_error {
            println!("  ! last error: {e}");
        }
        if let Some(s) = &b.suspended {
            println!(
                "  ! suspended until {} ({} failure{} in a row): POST /api/behaviours/{}/resume, or fix its file",
                s.until.format("%Y-%m-%d %H:%M:%S UTC"),
                s.failures,
                plural(u64::from(s.failures)),
                b.name
            );
        }
        for t in &b.triggers {
            let next = t.next_fire.map(|n| n.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into());
            let last = t.last_fired.map(|n| n.format("%H:%M:%S").to_string()).unwrap_or_else(|| "never".into());
            println!("  {}  next {next}  fired {}x, last {last}", t.trigger, t.fires);
        }
        if !b.traces.is_empty() {
            println!("  last runs:");
        }
        for t in b.traces.iter().rev().take(5) {
            let calls: Vec<String> =
                t.calls.iter().map(|c| format!("{}{}", c.call, if c.ok { "" } else { " (failed)" })).collect();
            println!(
                "    {}  {}  {:.1} ms  {}{}",
                t.started.format("%H:%M:%S"),
                t.trigger,
                t.duration_ms,
                t.outcome.summary(),
                if calls.is_empty() { String::new() } else { format!("  [{}]", calls.join(", ")) }
            );
        }
    }
    ExitCode::SUCCESS
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
