//! The JSON Schema of `vigil.toml`, generated from the config types (schemars): every field's
//! `///` doc becomes its description, so editors (taplo, Even Better TOML) complete keys and
//! show the reference while typing. The repository keeps it as `vigil.schema.json`, which
//! `vigil.example.toml` names on its first line (`#:schema ./vigil.schema.json`); a test fails
//! when the checked-in file is stale.

use super::Config;

/// The schema's file name beside `vigil.toml` (the repository's top level, a `vigil init` folder).
pub const FILE: &str = "vigil.schema.json";

/// The schema, pretty-printed JSON with a final newline.
pub fn json() -> String {
    let mut schema = schemars::schema_for!(Config);
    schema.insert("title".into(), "vigil.toml".into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is plain JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn top(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
    }

    #[test]
    fn the_checked_in_schema_is_current() {
        let path = top(super::FILE);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == super::json(),
            "{} is stale (the config types changed): regenerate it with `cargo run -p vigil -- schema --out {}`",
            path.display(),
            super::FILE
        );
    }

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
    }

    fn as_json(toml_text: &str) -> serde_json::Value {
        serde_json::to_value(toml::from_str::<toml::Table>(toml_text).unwrap()).unwrap()
    }

    #[test]
    fn the_example_config_validates_against_the_schema() {
        let text = std::fs::read_to_string(top("vigil.example.toml")).unwrap();
        assert!(
            text.starts_with("#:schema ./vigil.schema.json\n"),
            "vigil.example.toml names its schema on its first line"
        );
        let v = validator();
        let errors: Vec<String> = v.iter_errors(&as_json(&text)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "vigil.example.toml does not match the schema:\n{}", errors.join("\n"));
    }

    #[test]
    fn the_schema_refuses_what_the_loader_refuses() {
        let v = validator();
        for bad in [
            "bogus = 1",
            "reload_debounce = \"soon\"",
            "[sessions]\nsite = \"elsewhere\"",
            "[behaviours.keepalive]\ngrants = [\"everything\"]",
            "[api]\nmax_body = \"64 parsecs\"",
            "[limits]\nmax_cpu_share = 2.0",
            "[smtp]\npassword = \"hunter2\"",
        ] {
            assert!(!v.is_valid(&as_json(bad)), "the schema accepts `{bad}`");
            assert!(
                crate::config::load::parse_with_env(bad, "vigil.toml", Vec::new()).is_err(),
                "the loader accepts `{bad}`"
            );
        }
        let good = "[behaviours.keepalive]\ngrants = [\"sessions.send\"]\nparams = { to = \"+34 600 000 000\" }\n\
                    [limits]\nmax_cpu_share = \"10%\"\nrun_budget = \"1m30s\"";
        assert!(v.is_valid(&as_json(good)));
    }
}
