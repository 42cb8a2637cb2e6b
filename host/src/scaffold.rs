//! `vigil new script NAME` and `vigil new plugin NAME --lang rust|ts`: a commented starting
//! point that `vigil check` accepts and `vigil test` runs. The templates are in
//! `host/src/scaffold/`; every one registers a timer and an event handler, keeps a counter in kv
//! and emits an event, so `vigil test` shows it doing something.
//!
//! - a script is one file, `<scripts_dir>/NAME.rhai`;
//! - a plugin is a folder `<dir>/NAME/` (default: the current folder) with its source and a
//!   `build` script that makes `NAME.wasm` beside it. It builds against vigil's SDK
//!   (`plugins/sdk-ts` or `plugins/sdk` of a vigil checkout), found from `--sdk`, else by looking
//!   for `plugins/` in the folder and its parents.
//!
//! Nothing is overwritten: an existing file or folder is an error naming it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::behaviours::valid_name;

const SCRIPT: &str = include_str!("scaffold/script.rhai");
const PLUGIN_TS: &str = include_str!("scaffold/plugin.ts");
const BUILD_TS: &str = include_str!("scaffold/build-ts");
const PLUGIN_RS: &str = include_str!("scaffold/plugin.rs");
const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.in");
const BUILD_RS: &str = include_str!("scaffold/build-rs");

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with vigil-sdk (plugins/sdk).
    Rust,
    /// TypeScript, with vigil's TypeScript SDK (plugins/sdk-ts).
    Ts,
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if !valid_name(name) {
        bail!("`{name}` is not a behaviour name: use letters, digits, `_` and `-` only (e.g. `ping-check`)");
    }
    Ok(())
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}

/// Writes `scripts_dir/NAME.rhai`; returns its path.
pub fn script(scripts_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let path = scripts_dir.join(format!("{name}.rhai"));
    if path.exists() {
        bail!("{} already exists: pick another name or edit it", path.display());
    }
    std::fs::create_dir_all(scripts_dir).with_context(|| format!("cannot create {}", scripts_dir.display()))?;
    std::fs::write(&path, fill(SCRIPT, &[("name", name)]))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The SDK folder for `lang`: `sdk` when given (a vigil checkout or the SDK folder itself), else
/// `plugins/sdk-ts` / `plugins/sdk` in `from` or one of its parents.
fn find_sdk(lang: Lang, sdk: Option<&Path>, from: &Path) -> anyhow::Result<PathBuf> {
    let (sub, marker, needle) = match lang {
        Lang::Ts => ("plugins/sdk-ts", "scripts/build.mjs", "vigil"),
        Lang::Rust => ("plugins/sdk", "Cargo.toml", "name = \"vigil-sdk\""),
    };
    let candidates: Vec<PathBuf> = match sdk {
        Some(p) => vec![p.join(sub), p.to_path_buf()],
        None => from.ancestors().map(|a| a.join(sub)).collect(),
    };
    for c in candidates {
        if std::fs::read_to_string(c.join(marker)).is_ok_and(|t| t.contains(needle)) {
            return std::path::absolute(&c).with_context(|| format!("cannot resolve {}", c.display()));
        }
    }
    match sdk {
        Some(p) => bail!("{}: no vigil SDK there (looked for {sub}/{marker}); give a vigil checkout or its {sub}", p.display()),
        None => bail!(
            "no vigil SDK found: looked for {sub}/ in {} and its parents; run this inside a vigil checkout or pass --sdk <path to the checkout>",
            from.display()
        ),
    }
}

fn write_exec(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Lays out the plugin project `dir/NAME/`; returns its folder.
pub fn plugin(dir: &Path, name: &str, lang: Lang, sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        bail!("{} already exists: pick another name or remove it", root.display());
    }
    let abs_dir = std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let sdk = find_sdk(lang, sdk, &abs_dir)?;
    let sdk_text = sdk.to_string_lossy().to_string();
    std::fs::create_dir_all(root.join("src")).with_context(|| format!("cannot create {}", root.display()))?;
    let vars = [("name", name), ("sdk", sdk_text.as_str())];
    match lang {
        Lang::Ts => {
            std::fs::write(root.join("src").join(format!("{name}.ts")), fill(PLUGIN_TS, &vars))?;
            write_exec(&root.join("build"), &fill(BUILD_TS, &vars))?;
        }
        Lang::Rust => {
            let krate = name.replace('-', "_");
            let vars = [("name", name), ("sdk", sdk_text.as_str()), ("crate", krate.as_str())];
            std::fs::write(root.join("Cargo.toml"), fill(CARGO_TOML, &vars))?;
            std::fs::write(root.join("src").join("lib.rs"), fill(PLUGIN_RS, &vars))?;
            write_exec(&root.join("build"), &fill(BUILD_RS, &vars))?;
            std::fs::write(root.join(".gitignore"), "/target\n*.wasm\n")?;
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_script_loads_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "pulse").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("emit(\"pulse.tick\"") && !text.contains("{{"), "{text}");
        assert!(script(dir.path(), "pulse").unwrap_err().to_string().contains("already exists"));
        assert!(script(dir.path(), "bad name").unwrap_err().to_string().contains("not a behaviour name"));
    }

    #[test]
    fn a_plugin_needs_an_sdk_and_gets_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = plugin(dir.path(), "x", Lang::Ts, None).unwrap_err().to_string();
        assert!(e.contains("no vigil SDK found") && e.contains("--sdk"), "{e}");
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = plugin(dir.path(), "x", Lang::Ts, Some(&checkout)).unwrap();
        let build = std::fs::read_to_string(root.join("build")).unwrap();
        assert!(build.contains("plugins/sdk-ts") && !build.contains("{{"), "{build}");
        let root = plugin(dir.path(), "y-z", Lang::Rust, Some(&checkout)).unwrap();
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"y-z\"") && cargo.contains("plugins/sdk\" }"), "{cargo}");
        assert!(std::fs::read_to_string(root.join("build")).unwrap().contains("release/y_z.wasm"));
    }
}
