//! The `bbctl` binary: parse the command line, hand it to the library, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bbctl::run(bbctl::cli::Cli::parse())
}
