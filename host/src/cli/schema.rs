//! `vigil schema`: the JSON Schema of `vigil.toml` (see [`crate::config::schema`]), printed or
//! written to a file, for editors that complete and check TOML against a schema.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of printing it (e.g. `vigil.schema.json`, which a
    /// `#:schema ./vigil.schema.json` first line in vigil.toml points editors to).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn main(args: SchemaArgs) -> ExitCode {
    let text = crate::config::schema::json();
    match args.out {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match crate::fsutil::write_atomic(&path, text.as_bytes()) {
            Ok(()) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vigil schema: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}
