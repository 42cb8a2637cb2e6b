//! The declarations themselves: well formed, their validation and defaults applied once for
//! both bindings, and the generated files (`scripts/vigil.d.rhai`, the README table) current.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::docs::{self, Param};
use super::{all, get, Presence, Ty};
use crate::behaviours::host_calls::{HostCalls, HostError, Services};
use crate::config::Capability;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const REGENERATE: &str =
    "regenerate with `cargo run -p vigil -- defs --readme README.md` from the repository root (or \
     rerun this test with VIGIL_WRITE_DEFS=1) and commit";

/// Whether the test may write the file it checks (`VIGIL_WRITE_DEFS=1`).
fn write_instead(path: &std::path::Path, current: &str, expected: &str) -> bool {
    if current != expected && std::env::var("VIGIL_WRITE_DEFS").is_ok_and(|v| v == "1") {
        std::fs::write(path, expected).unwrap();
        return true;
    }
    false
}

#[test]
fn every_declaration_is_well_formed() {
    let mut names = BTreeSet::new();
    for f in all() {
        assert!(names.insert(f.name), "`{}` is declared twice", f.name);
        assert!(f.doc.len() > 20 && f.doc.ends_with('.'), "`{}`: its doc should be a sentence or more", f.name);
        let args: BTreeSet<_> = f.args.iter().map(|a| a.name).collect();
        assert_eq!(args.len(), f.args.len(), "`{}`: two arguments with one name", f.name);
        for a in f.args {
            if a.ty == Ty::Duration {
                if let Some(d) = a.default {
                    assert!(crate::duration::parse_duration(d).is_ok(), "`{}`: default `{d}` of `{}`", f.name, a.name);
                }
            }
            if a.presence == Presence::Required {
                assert!(a.default.is_none(), "`{}`: required `{}` has a default", f.name, a.name);
            }
        }
    }
    assert!(names.len() >= 30, "{names:?}");
}

#[test]
fn rhai_call_shapes_follow_the_declaration() {
    let shapes = |n: &str| get(n).unwrap().rhai_shapes();
    assert_eq!(
        shapes("log"),
        vec![vec![Param::Arg(1)], vec![Param::Arg(0), Param::Arg(1)]],
        "log(msg), log(level, msg)"
    );
    assert_eq!(shapes("state"), vec![vec![Param::Arg(0)], vec![Param::Arg(0), Param::Arg(1)]]);
    assert_eq!(
        shapes("cron"),
        vec![vec![Param::Arg(0), Param::Arg(1)], vec![Param::Arg(0), Param::Arg(1), Param::Options]]
    );
    assert_eq!(shapes("config"), vec![vec![Param::Arg(0)], vec![Param::Arg(0), Param::Default]]);
    assert_eq!(get("send_text").unwrap().summary(), "send_text(id, to, text, [key])");
    assert_eq!(get("every").unwrap().summary(), "every(spec, handler, [#{first}])");
}

/// Runs `name` as a behaviour with `grants` would, outside any binding.
fn invoke(name: &str, grants: Vec<Capability>, values: Vec<Option<Value>>) -> Result<super::Out, HostError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let svc = rt.block_on(Services::sandbox(&crate::config::Config::default()));
    let api = HostCalls::new("t", grants, &toml::Table::new(), svc);
    let out = get(name).unwrap().invoke(&api, values, None);
    let declared = api.take_declared();
    out.inspect(|_| assert!(declared.len() <= 1))
}

#[test]
fn validation_grants_and_defaults_live_in_the_declaration() {
    let s = |t: &str| Some(json!(t));
    let e = invoke("on", vec![], vec![s("session ready"), s("h")]).unwrap_err().to_string();
    assert_eq!(e, "behaviour `t`: on: bad event pattern `session ready`: use a name (`session.ready`), a prefix (`session.*`) or `*`");
    let e = invoke("cron", vec![], vec![s("0 2 * * *"), s("h"), None, s("twice")]).unwrap_err().to_string();
    assert!(e.starts_with("behaviour `t`: cron: ") && e.contains("twice"), "{e}");
    // Left out: tz is the host's, missed is `skip`.
    assert!(invoke("cron", vec![], vec![s("0 2 * * *"), s("h"), None, None]).is_ok());
    let e = invoke("state", vec![], vec![s("main"), None]).unwrap_err().to_string();
    assert!(e.contains("may not call `state`") && e.contains("sessions.read"), "{e}");
    let e = invoke("state", vec![Capability::SessionsRead], vec![s("main"), s("soon")]).unwrap_err().to_string();
    assert!(e.starts_with("behaviour `t`: state: argument `timeout`:"), "{e}");
    let e = invoke("kv_delete", vec![], vec![Some(json!(5))]).unwrap_err().to_string();
    assert_eq!(e, "behaviour `t`: kv_delete: argument `key` must be a string, not an integer");
    // A phone number may be an integer (rhai), read as its digits.
    let e = invoke("send_text", vec![Capability::SessionsSend], vec![s("main"), Some(json!([1])), s("x"), None]);
    assert!(e.unwrap_err().to_string().contains("argument `to` must be a string such as"));
}

#[test]
fn scripts_vigil_d_rhai_is_current() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let expected = format!("{}\n", rt.block_on(crate::cli::defs::definitions()));
    for f in all() {
        assert!(expected.contains(&format!("fn {}(", f.name)), "`{}` missing from the definitions", f.name);
    }
    assert!(expected.contains("/// Sends `text` to `to`"), "the docs are in the definitions");
    let path = repo().join("scripts/vigil.d.rhai");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if write_instead(&path, &current, &expected) {
        return;
    }
    assert!(current == expected, "{} is stale (the host functions changed): {REGENERATE}", path.display());
}

#[test]
fn the_readme_host_api_table_is_the_declarations() {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let table = docs::readme_table();
    for f in all() {
        assert!(table.contains(&format!("| `{}` [{}] |", f.summary(), f.interface)), "{}", f.name);
    }
    let regenerated = docs::with_table(&readme).expect("the README has the host API table markers");
    if write_instead(&path, &readme, &regenerated) {
        return;
    }
    assert!(regenerated == readme, "the host API table in {} is stale: {REGENERATE}", path.display());
}
