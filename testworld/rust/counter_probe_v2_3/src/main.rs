//! counter-probe-v2-3: counts requests the way the Limitador v2.3.0 server does (`ShouldRateLimit`:
//! `check_rate_limited_and_update`, hits 1) with that server's library (`limitador` 0.11.0) on Redis.
//!
//! Reads one JSON object on stdin -- `{"storage": "redis://…", "limits": [Limitador limits], "namespace": "…",
//! "descriptors": [{key: value}], "requests": N}` -- and answers `{"limited": [bool per request]}` (or
//! `{"error"}`) on stdout. The conformance tests count part of a tenant's quota with it and the rest with the
//! quota harness (Limitador v2.4.2's library) on the same Redis: the counters survive the Limitador upgrade.

use limitador::limit::{Context, Limit, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::AsyncRateLimiter;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::io::Read;

#[derive(Deserialize)]
struct Probe {
    storage: String,
    limits: Vec<Limit>,
    namespace: String,
    descriptors: Vec<HashMap<String, String>>,
    requests: u32,
}

async fn run(probe: Probe) -> Result<Vec<bool>, String> {
    let storage = AsyncRedisStorage::new(&probe.storage).await.map_err(|e| format!("Redis storage: {e}"))?;
    let limiter = AsyncRateLimiter::new_with_storage(Box::new(storage));
    limiter.configure_with(probe.limits).await.map_err(|e| e.to_string())?;
    let namespace = Namespace::from(probe.namespace.as_str());
    let mut ctx = Context::default();
    ctx.list_binding("descriptors".into(), probe.descriptors);
    let mut limited = Vec::new();
    for _request in 0..probe.requests {
        let result = limiter.check_rate_limited_and_update(&namespace, &ctx, 1, false).await;
        limited.push(result.map_err(|e| e.to_string())?.limited);
    }
    Ok(limited)
}

fn main() {
    let mut input = String::new();
    let answer = match std::io::stdin().read_to_string(&mut input).map_err(|e| e.to_string()).and_then(|_| {
        serde_json::from_str::<Probe>(&input).map_err(|e| format!("not a probe request: {e}"))
    }) {
        Err(e) => json!({"error": e}),
        Ok(probe) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Err(e) => json!({"error": format!("tokio runtime: {e}")}),
            Ok(rt) => match rt.block_on(run(probe)) {
                Ok(limited) => json!({"limited": limited}),
                Err(e) => json!({"error": e}),
            },
        },
    };
    println!("{answer}");
}
