//! The agent benchmark's API server process: `fake_cluster_api SERVICES ENDPOINTS` serves a
//! generated cluster from testkit's fake API server on loopback and follows commands on stdin
//! (see `benches::agent_api::api`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let (Some(Ok(services)), Some(Ok(endpoints)), None) = (args.next(), args.next(), args.next())
    else {
        eprintln!("usage: fake_cluster_api SERVICES ENDPOINTS");
        return ExitCode::from(2);
    };
    match benches::agent_api::api::serve(services, endpoints) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake_cluster_api: {e}");
            ExitCode::FAILURE
        }
    }
}
