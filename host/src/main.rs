//! The `vigil` binary: parse the command line and hand over to the library.

fn main() -> std::process::ExitCode {
    vigil::cli::main()
}
