//! What the declarations look like to people and editors: the shapes of call rhai accepts,
//! their signatures and doc comments (registered with the engine, so `Engine::definitions`
//! writes them into `scripts/vigil.d.rhai`), and the README's host API table.

use super::{all, HostFn, Presence, Ret};

/// One parameter of a rhai call shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// Declared argument `i`.
    Arg(usize),
    /// The trailing options map holding the [`Presence::Named`] arguments.
    Options,
    /// The trailing `default` returned instead of `()` (`rhai_default`).
    Default,
}

impl HostFn {
    /// Every shape of call rhai accepts, shortest first: the required arguments, then the
    /// leavable ones from the left, then the options map or `default` after all of them.
    pub(crate) fn rhai_shapes(&self) -> Vec<Vec<Param>> {
        let leavable: Vec<usize> = (0..self.args.len())
            .filter(|&i| matches!(self.args[i].presence, Presence::Optional | Presence::RhaiOptional))
            .collect();
        let mut shapes = Vec::new();
        for given in 0..=leavable.len() {
            let shape: Vec<Param> = (0..self.args.len())
                .filter(|&i| match self.args[i].presence {
                    Presence::Required => true,
                    Presence::Named => false,
                    Presence::Optional | Presence::RhaiOptional => leavable[..given].contains(&i),
                })
                .map(Param::Arg)
                .collect();
            shapes.push(shape);
        }
        let full = shapes.last().cloned().unwrap_or_default();
        if self.args.iter().any(|a| a.presence == Presence::Named) {
            shapes.push(full.iter().copied().chain([Param::Options]).collect());
        }
        if self.rhai_default {
            shapes.push(full.iter().copied().chain([Param::Default]).collect());
        }
        shapes
    }

    /// The keys of the options map.
    pub(crate) fn option_names(&self) -> Vec<&'static str> {
        self.args.iter().filter(|a| a.presence == Presence::Named).map(|a| a.name).collect()
    }

    /// rhai's return type name.
    pub(crate) fn rhai_return(&self) -> &'static str {
        match self.ret {
            Ret::Unit => "()",
            Ret::Value(t) => t.rhai(),
            Ret::Maybe(_) => "?",
        }
    }

    /// The parameters of one shape as rhai's metadata wants them (`"id: String"`, …, then
    /// the return type).
    pub(crate) fn params_info(&self, shape: &[Param]) -> Vec<String> {
        let mut out: Vec<String> = shape
            .iter()
            .map(|p| match p {
                Param::Arg(i) => format!("{}: {}", self.args[*i].name, self.args[*i].ty.rhai()),
                Param::Options => "options: Map".to_string(),
                Param::Default => "default: ?".to_string(),
            })
            .collect();
        out.push(self.rhai_return().to_string());
        out
    }

    /// The doc comment lines (`/// …`) of every shape.
    pub(crate) fn comments(&self) -> Vec<String> {
        let mut text = self.doc.to_string();
        let options = self.option_names();
        if !options.is_empty() {
            text.push_str(&format!(" Options: `#{{{}}}`.", options.join(", ")));
        }
        if !self.fallible {
            text.push_str(" Never fails.");
        }
        text.push_str(&match self.capability {
            Some(c) => format!(" Needs the grant `{c}`."),
            None => " Needs no grant.".to_string(),
        });
        text.push_str(&format!(" WASM: `{}` in the WIT interface `{}`.", self.wit_name(), self.interface));
        wrap(&text, 96).into_iter().map(|l| format!("/// {l}")).collect()
    }

    /// The compact signature the README shows: `state(id, [timeout])`.
    pub(crate) fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for a in self.args {
            match a.presence {
                Presence::Required => parts.push(a.name.to_string()),
                Presence::Optional | Presence::RhaiOptional => parts.push(format!("[{}]", a.name)),
                Presence::Named => {}
            }
        }
        let options = self.option_names();
        if !options.is_empty() {
            parts.push(format!("[#{{{}}}]", options.join(", ")));
        }
        if self.rhai_default {
            parts.push("[default]".into());
        }
        format!("{}({})", self.name, parts.join(", "))
    }
}

/// Words wrapped to lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Where the generated table stands in the README.
pub(crate) const TABLE_BEGIN: &str =
    "<!-- host-api-table: generated by `vigil defs --readme README.md`, do not edit -->";
pub(crate) const TABLE_END: &str = "<!-- host-api-table end -->";

/// The README's host API table, one row per function, from the declarations.
pub(crate) fn readme_table() -> String {
    let mut s = String::from("| function | does | grant |\n|---|---|---|\n");
    for f in all() {
        let grant = f.capability.map(|c| format!("`{c}`")).unwrap_or_else(|| "—".into());
        s.push_str(&format!("| `{}` [{}] | {} | {grant} |\n", f.summary(), f.interface, f.doc.replace('|', "\\|")));
    }
    s
}

/// `readme` with its table (between [`TABLE_BEGIN`] and [`TABLE_END`]) regenerated; `None`
/// when the markers are missing.
pub(crate) fn with_table(readme: &str) -> Option<String> {
    let start = readme.find(TABLE_BEGIN)? + TABLE_BEGIN.len();
    let end = start + readme[start..].find(TABLE_END)?;
    Some(format!("{}\n{}{}", &readme[..start], readme_table(), &readme[end..]))
}
