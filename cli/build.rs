//! Renders the man page `bbctl.1` into `OUT_DIR` from the same clap definitions the binary uses.

#[allow(dead_code)]
#[path = "src/cli/mod.rs"]
mod cli;

use clap::CommandFactory;

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli");
    let out_dir =
        std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let man = clap_mangen::Man::new(cli::Cli::command());
    let mut page = Vec::new();
    man.render(&mut page)?;
    std::fs::write(out_dir.join("bbctl.1"), page)
}
