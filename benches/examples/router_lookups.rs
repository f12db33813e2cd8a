//! router_lookups: `N` routed lookups over the router suite's fixture (1,000 APIs x 10
//! topics), for instruction counts under `valgrind --tool=callgrind`, which stay the same
//! however busy the machine is. Prints the number of lookups and routed topics' index sum.
//!
//! `cargo build --release -p eventgate-benches --example router_lookups &&
//!  valgrind --tool=callgrind target/release/examples/router_lookups 100000 mixed`
//! (kinds: `mixed`, `literal`, `template`). Run it with 0 lookups too: the difference of
//! the two totals over N is the cost of one lookup.

#[path = "../benches/common/router_fixture.rs"]
#[allow(dead_code, unreachable_pub)]
mod fixture;

use std::hint::black_box;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(n) = args.next().and_then(|a| a.parse::<usize>().ok()) else {
        eprintln!("usage: router_lookups N [mixed|literal|template]");
        return ExitCode::from(2);
    };
    let kinds = match args.next().as_deref() {
        None | Some("mixed") => fixture::MIXED,
        Some("literal") => fixture::LITERAL,
        Some("template") => fixture::TEMPLATE,
        Some(other) => {
            eprintln!("unknown kind {other:?}");
            return ExitCode::from(2);
        }
    };
    let registry = fixture::registry();
    let router = registry.router();
    let paths = fixture::targets(kinds);
    let mut sum = 0usize;
    for i in 0..n {
        match router.route(Some(fixture::HOST), black_box(&paths[i & 4095])) {
            Ok(route) => sum += black_box(route).topic_index(),
            Err(e) => {
                eprintln!("{}: {e}", paths[i & 4095]);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("lookups={n} topic_index_sum={sum}");
    ExitCode::SUCCESS
}
