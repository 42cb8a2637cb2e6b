//! `vigil init [DIR]`: lays out a folder to run vigil in, from what is bundled in the binary
//! (see [`crate::bundled`]): `vigil.toml` (every key, commented, with its default),
//! `vigil.schema.json` (which that file's first line names for editors), `scripts/` with the
//! default behaviours and `scripts/templates/` with the email templates. A file that exists is
//! kept as it is and named in the output: nothing is ever overwritten.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::bundled::{self, DefaultFile};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The folder to lay out (created if missing). Default: the current folder.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Every file `vigil init` lays out in `dir`, with its text.
pub fn files(dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        (dir.join("vigil.toml"), bundled::CONFIG.to_string()),
        (dir.join(crate::config::schema::FILE), crate::config::schema::json()),
    ];
    let under = |sub: PathBuf, list: &[DefaultFile]| {
        list.iter().map(move |f| (sub.join(f.name), f.text.to_string())).collect::<Vec<_>>()
    };
    files.extend(under(dir.join("scripts"), bundled::SCRIPTS));
    files.extend(under(dir.join("scripts").join("templates"), bundled::TEMPLATES));
    files
}

pub fn main(args: InitArgs) -> ExitCode {
    let files = files(&args.dir);
    let borrowed: Vec<(PathBuf, &str)> = files.iter().map(|(p, t)| (p.clone(), t.as_str())).collect();
    match bundled::lay_out(&borrowed) {
        Ok(done) => {
            for p in &done.kept {
                println!("kept {} (it exists; not overwritten)", p.display());
            }
            println!(
                "vigil init: wrote {} file{} in {}{}",
                done.written.len(),
                if done.written.len() == 1 { "" } else { "s" },
                args.dir.display(),
                if done.kept.is_empty() { String::new() } else { format!(", kept {} that existed", done.kept.len()) }
            );
            println!(
                "  next: cd {} && edit vigil.toml (e.g. [behaviours.keepalive.params] to), then `vigil check` and \
                 `vigil run`",
                args.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil init: {e:#}");
            ExitCode::FAILURE
        }
    }
}
