//! Email templates: `<dir>/<name>.subject`, `<dir>/<name>.txt` and optionally
//! `<dir>/<name>.html`, minijinja syntax. Read from disk at each render, so an edited template
//! applies to the next email without a restart.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::store::alerts::Email;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template `{name}`: {path} is missing: create it (see scripts/templates/ for examples)")]
    Missing { name: String, path: PathBuf },
    #[error("email template {path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Bad { path: PathBuf, line: Option<usize>, message: String },
    #[error("bad email template name `{0}`: use letters, digits, `_` and `-`")]
    Name(String),
}

fn read(dir: &Path, name: &str, ext: &str, required: bool) -> Result<Option<(PathBuf, String)>, TemplateError> {
    let path = dir.join(format!("{name}.{ext}"));
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some((path, s))),
        Err(_) if !required => Ok(None),
        Err(_) => Err(TemplateError::Missing { name: name.into(), path }),
    }
}

fn render_one(path: &Path, source: &str, vars: &Value, autoescape: bool) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(
        move |_| if autoescape { minijinja::AutoEscape::Html } else { minijinja::AutoEscape::None },
    );
    let bad =
        |e: minijinja::Error| TemplateError::Bad { path: path.to_path_buf(), line: e.line(), message: e.to_string() };
    env.add_template("t", source).map_err(bad)?;
    env.get_template("t").map_err(bad)?.render(vars).map_err(bad)
}

/// Renders template `name` with `vars` into an email to `to`.
pub fn render(dir: &Path, name: &str, vars: &Value, to: &str) -> Result<Email, TemplateError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(TemplateError::Name(name.into()));
    }
    let (sp, subject) = read(dir, name, "subject", true)?.expect("required");
    let (tp, text) = read(dir, name, "txt", true)?.expect("required");
    let html = read(dir, name, "html", false)?;
    let subject = render_one(&sp, &subject, vars, false)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let text = render_one(&tp, &text, vars, false)?;
    let html = match html {
        Some((hp, h)) => Some(render_one(&hp, &h, vars, true)?),
        None => None,
    };
    Ok(Email { to: to.into(), subject, text, html })
}

/// Checks every template in `dir` compiles (for `vigil check`); returns the problems.
pub fn check_dir(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return problems };
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for p in files {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !["subject", "txt", "html"].contains(&ext) {
            continue;
        }
        let Ok(src) = std::fs::read_to_string(&p) else { continue };
        let mut env = Environment::new();
        if let Err(e) = env.add_template("t", &src) {
            problems.push(format!("{}{}: {e}", p.display(), e.line().map(|l| format!(":{l}")).unwrap_or_default()));
        }
        if ext == "txt" && !p.with_extension("subject").exists() {
            problems.push(format!("{}: has no {} beside it", p.display(), p.with_extension("subject").display()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_subject_text_and_escaped_html() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.subject"), "Session {{ session_label }}\n  down").unwrap();
        std::fs::write(dir.path().join("d.txt"), "Hola {{ user_name }}: {{ reason }}").unwrap();
        std::fs::write(dir.path().join("d.html"), "<p>{{ reason }}</p>").unwrap();
        let e = render(
            dir.path(),
            "d",
            &json!({"session_label": "main", "user_name": "Ana", "reason": "<gone>"}),
            "a@example.com",
        )
        .unwrap();
        assert_eq!(e.subject, "Session main down");
        assert_eq!(e.text, "Hola Ana: <gone>");
        assert_eq!(e.html.as_deref(), Some("<p>&lt;gone&gt;</p>"));
    }

    #[test]
    fn missing_and_broken_templates_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = render(dir.path(), "nope", &json!({}), "a@example.com").unwrap_err().to_string();
        assert!(e.contains("nope.subject is missing"), "{e}");
        std::fs::write(dir.path().join("b.subject"), "x").unwrap();
        std::fs::write(dir.path().join("b.txt"), "line\n{{ oops }").unwrap();
        let e = render(dir.path(), "b", &json!({}), "a@example.com").unwrap_err().to_string();
        assert!(e.contains("b.txt:2"), "{e}");
        std::fs::write(dir.path().join("b.txt"), "{{ undefined_var }}").unwrap();
        let e = render(dir.path(), "b", &json!({}), "a@example.com").unwrap_err().to_string();
        assert!(e.contains("undefined"), "{e}");
        assert_eq!(check_dir(dir.path()), Vec::<String>::new());
        std::fs::write(dir.path().join("c.txt"), "{% if %}").unwrap();
        let p = check_dir(dir.path());
        assert_eq!(p.len(), 2, "{p:?}");
    }
}
