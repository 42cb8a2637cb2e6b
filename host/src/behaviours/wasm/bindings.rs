//! The generated host bindings of `plugins/wit/` and the check of the WIT version a component
//! was built against.
//!
//! A plugin names the package version in every import and export (`vigil:host/log@0.1.0`).
//! Versions follow semver as Cargo reads it: `0.1.x` plugins run on a `0.1` host, `1.x` on a
//! `1` host. A plugin of any other version is refused with a message saying which version it
//! was built for and which this host runs — before instantiation, so it never gets as far as
//! a confusing "missing import". When the API must break, the new version's bindings go
//! beside these and old plugins keep loading.

use wasmtime::component::Component;
use wasmtime::Engine;

wasmtime::component::bindgen!({
    path: "../plugins/wit",
    world: "behaviour",
});

/// The WIT package this host implements.
pub const PACKAGE: &str = "vigil:host";
/// Its version (`plugins/wit/*.wit`).
pub const VERSION: &str = "0.1.0";

/// The part of a version that must match: the major, or `0.minor` before 1.0.
fn compat(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next()?.parse().ok()?;
    Some(if major == 0 { format!("0.{minor}") } else { major.to_string() })
}

/// Checks that every `vigil:host` import and export of `component` is of a version this host
/// runs, and that it exports the `plugin` interface. The error is a sentence for the user.
pub fn check_version(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let ours = compat(VERSION).expect("our version parses");
    let mut seen_plugin = false;
    let names = ty.imports(engine).map(|(n, _)| (n, true)).chain(ty.exports(engine).map(|(n, _)| (n, false)));
    for (name, import) in names {
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
            if import {
                return Err(format!(
                    "it imports `{name}`, which this host does not provide: a plugin may import only \
                     {PACKAGE}@{VERSION}: no WASI, no other package (build it with vigil-sdk or plugins/sdk-ts as plugins/build does, see plugins/README.md)"
                ));
            }
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if compat(version).as_deref() != Some(ours.as_str()) {
            let built =
                if version.is_empty() { "an unversioned package".to_string() } else { format!("{PACKAGE}@{version}") };
            return Err(format!(
                "it was built against {built}, a version of the host API this host does not know: \
                 this host runs plugins built for {PACKAGE}@{ours}.x ({PACKAGE}@{VERSION}); rebuild the \
                 plugin with vigil-sdk {VERSION} or run a host that supports {built}"
            ));
        }
        if !import && interface == "plugin" {
            seen_plugin = true;
        }
    }
    if !seen_plugin {
        return Err(format!(
            "it does not export `{PACKAGE}/plugin@{VERSION}`: is it a vigil plugin? (use vigil_sdk::behaviour!)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::compat;

    #[test]
    fn compatible_versions_follow_cargo_semver() {
        assert_eq!(compat("0.1.0"), compat("0.1.7"));
        assert_ne!(compat("0.1.0"), compat("0.2.0"));
        assert_ne!(compat("0.1.0"), compat("1.0.0"));
        assert_eq!(compat("1.0.0"), compat("1.4.2"));
        assert_eq!(compat("garbage"), None);
    }
}
