//! wasm-shim v0.12.3's request path over Limitador's library (research §3, §6).
//!
//! Protocol, one JSON object per line:
//! * `{"op":"configure","plugin":{services, actionSets},"limits":[Limitador limits],"storage":"memory"|"redis://…"}`
//!   -- the wasm-shim plugin config and the Limitador CR `spec.limits` kuadrant-operator v1.4.3 writes;
//!   `configure_with` keeps the counters of unchanged limits, like the Limitador server on a config reload.
//! * `{"op":"eval","expression":"…","attributes":{request, auth?, response_body?}}` -> `{"value"}` | `{"error"}`
//! * `{"op":"route","request":{…}}` -> which action set serves the request and whether its auth action
//!   calls Authorino (`{"action_set", "auth": {"call", "scope"} | null, "error"?}`).
//! * `{"op":"request","request":{…},"identity":{…}|null,"response":{"content_type","body"}|null}` -> the
//!   rate-limit and token actions of that action set, in order, as wasm-shim runs them:
//!   `{"status": 200|429|500, "limited_by"?, "calls": [{service, domain, descriptor, hits, limited}], "errors": […]}`.
//! * `{"op":"counters","namespace":"…"}` -> Limitador's counters of a namespace (remaining per counter).
//!
//! `request` = `{method, path, host, scheme?, headers?}`; `path` is the full `:path` (with query).

use crate::cel_env::{self, Attributes, EvalError};
use cel::objects::Value;
use limitador::limit::{Context as LimitContext, Limit, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::{AsyncRateLimiter, RateLimiter};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::HashMap;

const HITS_ADDEND: &str = "ratelimit.hits_addend";
const DOMAIN: &str = "ratelimit.domain";
/// `KNOWN_ATTRIBUTES` of wasm-shim `tasks/ratelimit.rs`: never sent as descriptor entries.
const KNOWN_ATTRIBUTES: [&str; 2] = [HITS_ADDEND, DOMAIN];

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "deny")]
    failure_mode: String,
}

fn deny() -> String {
    "deny".into()
}

#[derive(Deserialize, Clone, Default)]
struct RouteRuleConditions {
    #[serde(default)]
    hostnames: Vec<String>,
    #[serde(default)]
    predicates: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct Expr {
    key: String,
    value: String,
}

#[derive(Deserialize, Clone)]
struct DataItem {
    #[serde(default)]
    expression: Option<Expr>,
    #[serde(default, rename = "static")]
    fixed: Option<Expr>,
}

#[derive(Deserialize, Clone)]
struct ConditionalData {
    #[serde(default)]
    predicates: Vec<String>,
    #[serde(default)]
    data: Vec<DataItem>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Action {
    service: String,
    scope: String,
    #[serde(default)]
    predicates: Vec<String>,
    #[serde(default)]
    conditional_data: Vec<ConditionalData>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ActionSet {
    name: String,
    #[serde(default)]
    route_rule_conditions: RouteRuleConditions,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Plugin {
    #[serde(default)]
    services: HashMap<String, Service>,
    #[serde(default)]
    action_sets: Vec<ActionSet>,
}

#[derive(Deserialize, Clone)]
pub(crate) struct Request {
    method: String,
    path: String,
    host: String,
    #[serde(default = "http")]
    scheme: String,
    #[serde(default)]
    headers: HashMap<String, String>,
}

fn http() -> String {
    "http".into()
}

#[derive(Deserialize, Clone)]
pub(crate) struct Response {
    #[serde(default)]
    content_type: String,
    body: String,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Op {
    Configure { plugin: Plugin, limits: Vec<Limit>, storage: String },
    Eval { expression: String, #[serde(default)] attributes: Json },
    Route { request: Request },
    Request { request: Request, identity: Option<Json>, response: Option<Response> },
    Counters { namespace: String },
}

enum Limiter {
    Memory(RateLimiter),
    Redis(AsyncRateLimiter, tokio::runtime::Runtime),
}

impl Limiter {
    fn configure(&self, limits: Vec<Limit>) -> Result<(), String> {
        match self {
            Limiter::Memory(l) => l.configure_with(limits).map_err(|e| e.to_string()),
            Limiter::Redis(l, rt) => rt.block_on(l.configure_with(limits)).map_err(|e| e.to_string()),
        }
    }

    /// gRPC ShouldRateLimit (RLP): `check_rate_limited_and_update`, hits 0 -> 1 (limitador-server `server.rs`).
    fn should_rate_limit(&self, ns: &Namespace, ctx: &LimitContext, hits: u64) -> Result<bool, String> {
        let hits = hits.max(1);
        match self {
            Limiter::Memory(l) => l.check_rate_limited_and_update(ns, ctx, hits, false),
            Limiter::Redis(l, rt) => rt.block_on(l.check_rate_limited_and_update(ns, ctx, hits, false)),
        }
        .map(|r| r.limited)
        .map_err(|e| e.to_string())
    }

    /// CheckRateLimit (TRLP request phase): hits ignored, `is_rate_limited(ns, ctx, 1)` (`kuadrant_service.rs`).
    fn check(&self, ns: &Namespace, ctx: &LimitContext) -> Result<bool, String> {
        match self {
            Limiter::Memory(l) => l.is_rate_limited(ns, ctx, 1),
            Limiter::Redis(l, rt) => rt.block_on(l.is_rate_limited(ns, ctx, 1)),
        }
        .map(|r| r.limited)
        .map_err(|e| e.to_string())
    }

    /// Report (TRLP response phase): `update_counters(ns, ctx, hits)`, hits 0 -> 1, always OK.
    fn report(&self, ns: &Namespace, ctx: &LimitContext, hits: u64) -> Result<(), String> {
        let hits = hits.max(1);
        match self {
            Limiter::Memory(l) => l.update_counters(ns, ctx, hits),
            Limiter::Redis(l, rt) => rt.block_on(l.update_counters(ns, ctx, hits)),
        }
        .map_err(|e| e.to_string())
    }

    fn counters(&self, ns: &Namespace) -> Result<Json, String> {
        let counters = match self {
            Limiter::Memory(l) => l.get_counters(ns),
            Limiter::Redis(l, rt) => rt.block_on(l.get_counters(ns)),
        }
        .map_err(|e| e.to_string())?;
        let mut out: Vec<Json> = counters
            .iter()
            .map(|c| {
                json!({"limit": c.limit().name(), "max_value": c.max_value(), "remaining": c.remaining(),
                       "seconds": c.window().as_secs(), "set_variables": c.set_variables()})
            })
            .collect();
        out.sort_by_key(|v| v.to_string());
        Ok(Json::Array(out))
    }
}

#[derive(Default)]
pub struct Harness {
    plugin: Plugin,
    limiter: Option<Limiter>,
}

fn attributes(request: &Request, identity: Option<&Json>, body: Option<Json>) -> Attributes {
    let (url_path, query) = match request.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (request.path.clone(), String::new()),
    };
    let mut headers: HashMap<String, String> =
        request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    headers.insert(":method".into(), request.method.clone());
    headers.insert(":path".into(), request.path.clone());
    headers.insert(":authority".into(), request.host.clone());
    Attributes {
        // Envoy attributes: `path` is the full :path, `url_path` the path without the query string.
        request: json!({"method": request.method, "path": request.path, "url_path": url_path, "query": query,
                        "host": request.host, "scheme": request.scheme, "protocol": "HTTP/1.1",
                        "headers": headers}),
        source: json!({"address": "127.0.0.1", "remote_address": "127.0.0.1", "port": 40000}),
        destination: json!({"address": "127.0.0.1", "port": 8080}),
        // wasm-shim flattens Authorino's dynamic metadata under `auth` (auth.identity.groups, ...).
        auth: identity.map(|id| json!({"identity": id})),
        response_body: body,
    }
}

fn all(predicates: &[String], ctx: &cel::Context) -> Result<bool, EvalError> {
    // PredicateVec::apply: stops at the first false, returns the first error.
    for p in predicates {
        if !cel_env::predicate(p, ctx)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn host_matches(pattern: &str, host: &str) -> Option<usize> {
    if pattern == "*" {
        Some(0)
    } else if let Some(suffix) = pattern.strip_prefix("*.") {
        host.ends_with(&format!(".{suffix}")).then_some(suffix.len() + 1)
    } else {
        (pattern == host).then_some(pattern.len() + 1000)
    }
}

/// Descriptor entries of one action (wasm-shim `build_descriptors`): the data of every
/// conditionalData whose predicates all hold, in one descriptor; None = no call.
fn descriptor(action: &Action, ctx: &cel::Context) -> Result<Option<Vec<(String, String)>>, EvalError> {
    let mut entries = Vec::new();
    for cd in &action.conditional_data {
        if !all(&cd.predicates, ctx)? {
            continue;
        }
        for item in &cd.data {
            let (key, value) = match (&item.expression, &item.fixed) {
                (Some(e), _) => {
                    let value = cel_env::eval(&cel_env::compile(&e.value)?, ctx)?;
                    let text = match value {
                        Value::String(s) => s.to_string(),
                        Value::Int(i) => i.to_string(),
                        Value::UInt(u) => u.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".into(),
                        other => return Err(EvalError(format!("descriptor {} is not a scalar: {other:?}", e.key))),
                    };
                    (e.key.clone(), text)
                }
                (None, Some(s)) => (s.key.clone(), s.value.clone()),
                (None, None) => return Err(EvalError("data item without expression or static".into())),
            };
            entries.push((key, value));
        }
    }
    Ok(if entries.is_empty() { None } else { Some(entries) })
}

fn limit_context(entries: &[(String, String)]) -> LimitContext<'static> {
    let map: HashMap<String, String> = entries
        .iter()
        .filter(|(k, _)| !KNOWN_ATTRIBUTES.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut ctx = LimitContext::default();
    ctx.list_binding("descriptors".into(), vec![map]);
    ctx
}

/// The body the token report reads (wasm-shim `tasks/token_usage.rs`): for `text/event-stream` the
/// JSON of the second-to-last event (the one before `[DONE]`), else the whole body.
fn usage_document(response: &Response) -> Option<Json> {
    if response.content_type.contains("text/event-stream") {
        let events: Vec<&str> = response
            .body
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data:")).map(str::trim))
            .collect();
        if events.len() < 2 {
            return None;
        }
        serde_json::from_str(events[events.len() - 2]).ok()
    } else {
        serde_json::from_str(&response.body).ok()
    }
}

impl Harness {
    pub(crate) fn handle(&mut self, op: Op) -> Json {
        match op {
            Op::Configure { plugin, limits, storage } => self.configure(plugin, limits, &storage),
            Op::Eval { expression, attributes } => {
                let attrs = Attributes {
                    request: attributes.get("request").cloned().unwrap_or(json!({})),
                    auth: attributes.get("auth").cloned(),
                    response_body: attributes.get("response_body").cloned(),
                    ..Default::default()
                };
                let ctx = cel_env::context(&attrs);
                match cel_env::compile(&expression).and_then(|p| cel_env::eval(&p, &ctx)).and_then(|v| cel_env::to_json(&v)) {
                    Ok(value) => json!({"value": value}),
                    Err(EvalError(e)) => json!({"error": e}),
                }
            }
            Op::Route { request } => self.route(&request),
            Op::Request { request, identity, response } => self.request(&request, identity.as_ref(), response.as_ref()),
            Op::Counters { namespace } => match &self.limiter {
                Some(l) => match l.counters(&Namespace::from(namespace.as_str())) {
                    Ok(c) => json!({"counters": c}),
                    Err(e) => json!({"error": e}),
                },
                None => json!({"error": "not configured"}),
            },
        }
    }

    fn configure(&mut self, plugin: Plugin, limits: Vec<Limit>, storage: &str) -> Json {
        for set in &plugin.action_sets {
            for source in set.route_rule_conditions.predicates.iter().chain(set.actions.iter().flat_map(|a| {
                a.predicates.iter().chain(a.conditional_data.iter().flat_map(|c| c.predicates.iter()))
            })) {
                // wasm-shim: a parse error at config load rejects the whole plugin config.
                if let Err(EvalError(e)) = cel_env::compile(source) {
                    return json!({"error": e});
                }
            }
        }
        if self.limiter.is_none() {
            self.limiter = Some(if storage == "memory" {
                Limiter::Memory(RateLimiter::new(10_000))
            } else {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return json!({"error": format!("tokio runtime: {e}")}),
                };
                match rt.block_on(AsyncRedisStorage::new(storage)) {
                    Ok(s) => Limiter::Redis(AsyncRateLimiter::new_with_storage(Box::new(s)), rt),
                    Err(e) => return json!({"error": format!("Redis storage {storage}: {e}")}),
                }
            });
        }
        let count = limits.len();
        if let Err(e) = self.limiter.as_ref().expect("set above").configure(limits) {
            return json!({"error": e});
        }
        self.plugin = plugin;
        json!({"ok": true, "limits": count, "action_sets": self.plugin.action_sets.len()})
    }

    /// Host selection then the first action set whose route predicates hold (`pipeline/factory.rs`).
    fn select(&self, request: &Request, ctx: &cel::Context) -> Result<Option<&ActionSet>, EvalError> {
        let host = request.host.split(':').next().unwrap_or("");
        let best = self
            .plugin
            .action_sets
            .iter()
            .filter_map(|s| s.route_rule_conditions.hostnames.iter().filter_map(|h| host_matches(h, host)).max())
            .max();
        let Some(best) = best else { return Ok(None) };
        for set in &self.plugin.action_sets {
            let score = set.route_rule_conditions.hostnames.iter().filter_map(|h| host_matches(h, host)).max();
            if score == Some(best) && all(&set.route_rule_conditions.predicates, ctx)? {
                return Ok(Some(set));
            }
        }
        Ok(None)
    }

    fn route(&self, request: &Request) -> Json {
        let ctx = cel_env::context(&attributes(request, None, None));
        match self.select(request, &ctx) {
            // "failed to build pipeline": the request continues with no auth and no limits.
            Err(EvalError(e)) => json!({"action_set": null, "auth": null, "error": e}),
            Ok(None) => json!({"action_set": null, "auth": null}),
            Ok(Some(set)) => {
                let auth = set.actions.iter().find(|a| self.kind(a) == "auth");
                let auth = match auth {
                    None => Json::Null,
                    Some(a) => match all(&a.predicates, &ctx) {
                        Ok(call) => json!({"call": call, "scope": a.scope}),
                        // auth task failed -> failureMode deny -> 500
                        Err(EvalError(e)) => json!({"call": false, "scope": a.scope, "error": e}),
                    },
                };
                json!({"action_set": set.name, "auth": auth})
            }
        }
    }

    fn kind(&self, action: &Action) -> &str {
        self.plugin.services.get(&action.service).map(|s| s.kind.as_str()).unwrap_or("unknown")
    }

    fn request(&self, request: &Request, identity: Option<&Json>, response: Option<&Response>) -> Json {
        let Some(limiter) = &self.limiter else { return json!({"error": "not configured"}) };
        let request_ctx = cel_env::context(&attributes(request, identity, None));
        let set = match self.select(request, &request_ctx) {
            Err(EvalError(e)) => return json!({"status": 200, "calls": [], "errors": [e], "pipeline": "not built"}),
            Ok(None) => return json!({"status": 200, "calls": [], "errors": []}),
            Ok(Some(set)) => set,
        };
        let mut calls = Vec::new();
        let mut errors = Vec::new();
        let mut reports = Vec::new();
        for action in &set.actions {
            let service = self.plugin.services.get(&action.service).cloned().unwrap_or(Service {
                kind: "unknown".into(),
                failure_mode: deny(),
            });
            let failed = |errors: &mut Vec<String>, what: String| -> Option<Json> {
                errors.push(what);
                (service.failure_mode == "deny").then(|| json!({"status": 500}))
            };
            match service.kind.as_str() {
                "auth" => match all(&action.predicates, &request_ctx) {
                    Ok(true) if identity.is_none() => {
                        return json!({"error": "the auth action calls Authorino but no identity was given"})
                    }
                    Ok(_) => {}
                    Err(EvalError(e)) => return json!({"status": 500, "calls": calls, "errors": [e]}),
                },
                "ratelimit" | "ratelimit-check" => {
                    let entries = match all(&action.predicates, &request_ctx).and_then(|ok| {
                        if ok { descriptor(action, &request_ctx) } else { Ok(None) }
                    }) {
                        Ok(Some(entries)) => entries,
                        Ok(None) => continue,
                        Err(EvalError(e)) => match failed(&mut errors, e) {
                            Some(deny) => return deny,
                            None => continue,
                        },
                    };
                    let ns = Namespace::from(action.scope.as_str());
                    let ctx = limit_context(&entries);
                    let outcome = if service.kind == "ratelimit" {
                        limiter.should_rate_limit(&ns, &ctx, 1)
                    } else {
                        limiter.check(&ns, &ctx)
                    };
                    let limited = match outcome {
                        Ok(limited) => limited,
                        Err(e) => match failed(&mut errors, format!("limitador: {e}")) {
                            Some(deny) => return deny,
                            None => continue,
                        },
                    };
                    calls.push(json!({"service": service.kind, "domain": action.scope,
                                      "descriptor": entries_json(&entries), "limited": limited}));
                    if limited {
                        return json!({"status": 429, "body": "Too Many Requests\n", "calls": calls,
                                      "errors": errors});
                    }
                }
                "ratelimit-report" => reports.push(action),
                other => errors.push(format!("unknown service type {other:?}")),
            }
        }
        if let Some(response) = response {
            let body = usage_document(response);
            let response_ctx = cel_env::context(&attributes(request, identity, body));
            for action in reports {
                let entries = match all(&action.predicates, &response_ctx).and_then(|ok| {
                    if ok { descriptor(action, &response_ctx) } else { Ok(None) }
                }) {
                    Ok(Some(entries)) => entries,
                    Ok(None) => continue,
                    // missing usage: the task stays pending, fails at end of stream -> allow, nothing counted
                    Err(EvalError(e)) => {
                        errors.push(e);
                        continue;
                    }
                };
                let hits = match entries.iter().find(|(k, _)| k == HITS_ADDEND).map(|(_, v)| v.parse::<u32>()) {
                    Some(Ok(h)) => h as u64,
                    Some(Err(_)) | None => {
                        errors.push(format!("{HITS_ADDEND} is not a whole number 0..{}", u32::MAX));
                        continue;
                    }
                };
                let ns = Namespace::from(action.scope.as_str());
                if let Err(e) = limiter.report(&ns, &limit_context(&entries), hits) {
                    errors.push(format!("limitador: {e}"));
                    continue;
                }
                calls.push(json!({"service": "ratelimit-report", "domain": action.scope,
                                  "descriptor": entries_json(&entries), "hits": hits}));
            }
        }
        json!({"status": 200, "calls": calls, "errors": errors})
    }
}

/// The descriptor as sent to Limitador (known attributes such as the hits addend left out).
fn entries_json(entries: &[(String, String)]) -> Json {
    Json::Object(
        entries
            .iter()
            .filter(|(k, _)| !KNOWN_ATTRIBUTES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect(),
    )
}
