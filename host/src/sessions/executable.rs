//! Which Chromium the sessions run. `sessions.chromium = "auto"` (the default) picks Debian's
//! `chromium-headless-shell` when it is installed — Chromium's old headless mode, about half
//! the memory of the full browser per session and a faster start — else the full `chromium`.
//! Any other value is that executable (a path, or a name looked up in `PATH`).

use std::path::{Path, PathBuf};

use super::chromium::{find_in_path, resolve_wrapper};

/// The setting's value that picks for the user.
pub const AUTO: &str = "auto";
/// Debian's package (and executable) with the old headless mode.
pub const HEADLESS_SHELL: &str = "chromium-headless-shell";
/// Debian's full browser.
pub const FULL: &str = "chromium";

/// The executable for `setting`: for `auto`, the headless shell when it is in `PATH`, else
/// `chromium`.
pub fn choose(setting: &Path) -> PathBuf {
    if setting != Path::new(AUTO) {
        return setting.to_path_buf();
    }
    match find_in_path(Path::new(HEADLESS_SHELL)) {
        Some(_) => PathBuf::from(HEADLESS_SHELL),
        None => PathBuf::from(FULL),
    }
}

/// What `executable` is, for people: `headless shell` or `full Chromium`, judged by the name
/// of the binary it runs (through a wrapper script).
pub fn kind(executable: &Path) -> &'static str {
    let real = resolve_wrapper(executable);
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().contains("headless")).unwrap_or(false);
    if name(&real) || name(executable) {
        "headless shell"
    } else {
        "full Chromium"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_the_headless_shell_and_a_setting_is_kept() {
        assert_eq!(choose(Path::new("/opt/chrome/chrome")), Path::new("/opt/chrome/chrome"));
        let chosen = choose(Path::new(AUTO));
        let expected = if find_in_path(Path::new(HEADLESS_SHELL)).is_some() { HEADLESS_SHELL } else { FULL };
        assert_eq!(chosen, Path::new(expected));
        assert_eq!(kind(Path::new("/usr/lib/chromium/chromium-headless-shell")), "headless shell");
        assert_eq!(kind(Path::new("/nonexistent/chromium")), "full Chromium");
    }

    #[test]
    fn a_wrapper_that_runs_its_binary_as_a_child_is_resolved_and_one_that_execs_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::env::current_exe().unwrap(); // an ELF binary
        let child = dir.path().join("child-wrapper");
        std::fs::write(&child, format!("#!/bin/sh -e\n\n{} \"$@\"\n", real.display())).unwrap();
        assert_eq!(resolve_wrapper(&child), real);
        let execs = dir.path().join("exec-wrapper");
        std::fs::write(&execs, format!("#!/bin/sh\nexec {} \"$@\"\n", real.display())).unwrap();
        assert_eq!(resolve_wrapper(&execs), execs);
        let vars = dir.path().join("var-wrapper");
        std::fs::write(&vars, "#!/bin/sh\nLIB=/usr/lib/x\n$LIB/chromium \"$@\"\n").unwrap();
        assert_eq!(resolve_wrapper(&vars), vars, "a command it cannot read is kept");
        assert_eq!(resolve_wrapper(&real), real, "a binary is itself");
    }
}
