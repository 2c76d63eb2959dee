//! The `svcproxy` agent (its subcommands arrive with the backend issues).

fn main() {
    println!("svcproxy {}: no subcommands yet", env!("CARGO_PKG_VERSION"));
}
