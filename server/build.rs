//! `embed_migrations!` cannot see changes to the SQL files; this makes cargo rebuild when they change.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
