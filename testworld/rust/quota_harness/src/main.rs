//! quota-harness: the request path of wasm-shim v0.14.1 over Limitador v2.4.2's library, for tests.
//!
//! Reads JSON lines on stdin and answers one JSON line each on stdout (protocol in
//! `pipeline.rs`). It evaluates with the crates those components are built from --
//! `cel` 0.14.0 (+ wasm-shim's string extensions, `strings.rs`) and `limitador` 0.12.0
//! (in-memory or Redis storage) -- and gets the identity that Authorino returned from its
//! caller, which asks the real Authorino.

mod cel_env;
mod pipeline;
mod strings;

use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut harness = pipeline::Harness::default();
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => line,
            Err(err) => {
                eprintln!("quota-harness: cannot read stdin: {err}");
                std::process::exit(2);
            }
        };
        let answer = match serde_json::from_str(&line) {
            Ok(request) => harness.handle(request),
            Err(err) => serde_json::json!({"error": format!("not a JSON request: {err}")}),
        };
        writeln!(stdout, "{answer}").and_then(|_| stdout.flush()).unwrap_or_else(|err| {
            eprintln!("quota-harness: cannot write stdout: {err}");
            std::process::exit(2);
        });
    }
}
