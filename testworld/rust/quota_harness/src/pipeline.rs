//! wasm-shim v0.14.1's request path over Limitador's library.
//!
//! wasm-shim v0.14.1 compiles each "legacy" action of the plugin config (what kuadrant-operator 1.5.2 writes) into
//! one CEL predicate and one CEL request builder (`src/configuration/legacy_translation.rs` upstream); this harness
//! builds the same CEL sources, with `{key, value}` maps where upstream builds protobuf messages, and evaluates them
//! with the same `cel` crate, so CEL's error absorption (`err || true` is true) and its conversions
//! (`string(expr)` for descriptor values, `uint(expr)` for the hits addend) are upstream's.
//!
//! Protocol, one JSON object per line:
//! * `{"op":"configure","plugin":{services, actionSets},"limits":[Limitador limits],"storage":"memory"|"redis://…"}`
//!   -- the wasm-shim plugin config and the Limitador CR `spec.limits` kuadrant-operator writes;
//!   `configure_with` keeps the counters of unchanged limits, like the Limitador server on a config reload.
//! * `{"op":"eval","expression":"…","attributes":{request, auth?, response_body?}}` -> `{"value"}` | `{"error"}`
//! * `{"op":"route","request":{…}}` -> which action set serves the request and whether its auth action
//!   calls Authorino (`{"action_set", "auth": {"call", "scope"} | null}`; `"status": 500` when the pipeline cannot
//!   be built -- a route predicate error or no host).
//! * `{"op":"request","request":{…},"identity":{…}|null,"response":{"content_type","body"}|null}` -> the
//!   rate-limit and token actions of that action set, in order, as wasm-shim runs them:
//!   `{"status": 200|429|500, "calls": [{service, domain, descriptor, descriptors, hits, limited?}], "errors": […]}`.
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
use std::panic::{catch_unwind, AssertUnwindSafe};

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
    /// Filled by kuadrant-operator's extensions only (a second descriptor upstream); not followed here.
    #[serde(default)]
    request_data: HashMap<String, String>,
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
    Request {
        request: Request,
        identity: Option<Json>,
        response: Option<Response>,
        /// The `deferred` index a request-phase call answered: only the actions from there on run, on `response`.
        #[serde(default)]
        resume: Option<usize>,
    },
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
        guarded("ShouldRateLimit", || {
            match self {
                Limiter::Memory(l) => l.check_rate_limited_and_update(ns, ctx, hits, false),
                Limiter::Redis(l, rt) => rt.block_on(l.check_rate_limited_and_update(ns, ctx, hits, false)),
            }
            .map(|r| r.limited)
            .map_err(|e| e.to_string())
        })
    }

    /// CheckRateLimit (TRLP request phase): hits ignored, `is_rate_limited(ns, ctx, 1)` (`kuadrant_service.rs`).
    fn check(&self, ns: &Namespace, ctx: &LimitContext) -> Result<bool, String> {
        guarded("CheckRateLimit", || {
            match self {
                Limiter::Memory(l) => l.is_rate_limited(ns, ctx, 1),
                Limiter::Redis(l, rt) => rt.block_on(l.is_rate_limited(ns, ctx, 1)),
            }
            .map(|r| r.limited)
            .map_err(|e| e.to_string())
        })
    }

    /// Report (TRLP response phase): `update_counters(ns, ctx, hits)`, hits 0 -> 1, always OK.
    fn report(&self, ns: &Namespace, ctx: &LimitContext, hits: u64) -> Result<(), String> {
        let hits = hits.max(1);
        guarded("Report", || {
            match self {
                Limiter::Memory(l) => l.update_counters(ns, ctx, hits),
                Limiter::Redis(l, rt) => rt.block_on(l.update_counters(ns, ctx, hits)),
            }
            .map_err(|e| e.to_string())
        })
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
    // PredicateVec::apply, for routeRuleConditions only: stops at the first false, returns the first error.
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

/// `"true"`, the one predicate, or `(p1) && (p2) …`.
fn conjunction(predicates: &[String]) -> String {
    match predicates {
        [] => "true".into(),
        [one] => one.clone(),
        many => many.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" && "),
    }
}

/// The predicate a legacy action compiles to: its own predicates and -- when every conditionalData block has
/// predicates -- at least one block's (`b1 || (q1) && (q2) || …`; a one-predicate block is not parenthesised).
fn action_predicate(action: &Action) -> String {
    let own = conjunction(&action.predicates);
    let cds = &action.conditional_data;
    let blocks = if cds.is_empty() || cds.iter().any(|cd| cd.predicates.is_empty()) {
        "true".to_string()
    } else {
        cds.iter()
            .map(|cd| match cd.predicates.as_slice() {
                [one] => one.clone(),
                many => format!("({})", conjunction(many)),
            })
            .collect::<Vec<_>>()
            .join(" || ")
    };
    match (own.as_str(), blocks.as_str()) {
        ("true", "true") => "true".into(),
        ("true", _) => blocks,
        (_, "true") => own,
        _ => format!("({own}) && ({blocks})"),
    }
}

/// A CEL string literal.
fn cel_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t");
    format!("\"{escaped}\"")
}

impl DataItem {
    fn key_value(&self) -> Result<(&str, &str, bool), EvalError> {
        match (&self.expression, &self.fixed) {
            (Some(e), None) => Ok((&e.key, &e.value, true)),
            (None, Some(s)) => Ok((&s.key, &s.value, false)),
            _ => Err(EvalError("a data item is exactly one of expression or static".into())),
        }
    }
}

/// The CEL source of a known attribute (`ratelimit.domain`, `ratelimit.hits_addend`): the first item with that key
/// in any block, whatever the block's predicates; the hits addend as `uint(…)` (a static value pasted in as CEL).
fn known_source(action: &Action, key: &str) -> Result<Option<String>, EvalError> {
    for item in action.conditional_data.iter().flat_map(|cd| cd.data.iter()) {
        let (k, value, expression) = item.key_value()?;
        if k == key {
            return Ok(Some(match (key, expression) {
                (HITS_ADDEND, _) => format!("uint({value})"),
                (_, true) => value.to_string(),
                (_, false) => cel_string(value),
            }));
        }
    }
    Ok(None)
}

/// The descriptor entries as one CEL list of `{key, value}` maps: per block with data, its entries (`string(expr)`
/// or the static string), guarded by the block's predicates (`((q) ? [...] : [])`), blocks joined with `+`.
fn entries_source(action: &Action) -> Result<Option<String>, EvalError> {
    let mut parts = Vec::new();
    for cd in &action.conditional_data {
        let mut entries = Vec::new();
        for item in &cd.data {
            let (key, value, expression) = item.key_value()?;
            if KNOWN_ATTRIBUTES.contains(&key) {
                continue;
            }
            let value = if expression { format!("string({value})") } else { cel_string(value) };
            entries.push(format!("{{\"key\": {}, \"value\": {value}}}", cel_string(key)));
        }
        if entries.is_empty() {
            continue;
        }
        let list = format!("[{}]", entries.join(", "));
        parts.push(if cd.predicates.is_empty() {
            list
        } else {
            format!("(({}) ? {list} : [])", conjunction(&cd.predicates))
        });
    }
    Ok((!parts.is_empty()).then(|| parts.join(" + ")))
}

/// What the request builder of one limit action produces: the domain (Limitador namespace), the hits addend as
/// the uint32 protobuf field holds it, and the descriptors (none, or one with the entries).
struct Message {
    domain: String,
    hits: u64,
    descriptors: Vec<Vec<(String, String)>>,
}

impl Message {
    fn sources(action: &Action) -> Result<Vec<String>, EvalError> {
        Ok([known_source(action, DOMAIN)?, known_source(action, HITS_ADDEND)?, entries_source(action)?]
            .into_iter()
            .flatten()
            .collect())
    }

    fn build(action: &Action, ctx: &cel::Context) -> Result<Message, EvalError> {
        let domain = match known_source(action, DOMAIN)? {
            None => action.scope.clone(),
            Some(source) => match cel_env::eval_source(&source, ctx)? {
                Value::String(s) => s.to_string(),
                other => return Err(EvalError(format!("{DOMAIN} gave {other:?}, not a string"))),
            },
        };
        let hits = match known_source(action, HITS_ADDEND)? {
            None => 1,
            // the protobuf field is uint32: the value is cut to 32 bits, unchecked
            Some(source) => match cel_env::eval_source(&source, ctx)? {
                Value::UInt(u) => (u as u32) as u64,
                other => return Err(EvalError(format!("{HITS_ADDEND} gave {other:?}, not a uint"))),
            },
        };
        let mut descriptors = Vec::new();
        if let Some(source) = entries_source(action)? {
            let Value::List(items) = cel_env::eval_source(&source, ctx)? else {
                return Err(EvalError("descriptor entries are not a list".into()));
            };
            let mut entries = Vec::new();
            for item in items.iter() {
                let json = cel_env::to_json(item)?;
                match (json.get("key").and_then(Json::as_str), json.get("value").and_then(Json::as_str)) {
                    (Some(k), Some(v)) => entries.push((k.to_string(), v.to_string())),
                    _ => return Err(EvalError(format!("descriptor entry {json} is not a key and a string value"))),
                }
            }
            descriptors.push(entries);
        }
        Ok(Message { domain, hits, descriptors })
    }

    fn limit_context(&self) -> LimitContext<'static> {
        let maps: Vec<HashMap<String, String>> = self.descriptors.iter().map(|d| d.iter().cloned().collect()).collect();
        let mut ctx = LimitContext::default();
        ctx.list_binding("descriptors".into(), maps);
        ctx
    }

    fn call(&self, service: &str) -> Json {
        let first: serde_json::Map<String, Json> = self
            .descriptors
            .first()
            .map(|d| d.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
            .unwrap_or_default();
        let all: Vec<Json> = self
            .descriptors
            .iter()
            .map(|d| Json::Object(d.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect()))
            .collect();
        json!({"service": service, "domain": self.domain, "descriptor": first, "descriptors": all, "hits": self.hits})
    }
}

/// A call into Limitador's library; a panic (the library unwraps a condition's evaluation error, e.g. an index
/// into an empty descriptor list) is an error of that call, as the server's gRPC task would fail.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => Err(format!("limitador panicked in {what}")),
    }
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
            Op::Request { request, identity, response, resume } => {
                self.request(&request, identity.as_ref(), response.as_ref(), resume)
            }
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
        if !plugin.request_data.is_empty() {
            return json!({"error": "requestData (written for kuadrant-operator extensions) is not followed by this harness"});
        }
        // wasm-shim compiles every predicate and request builder at config load: a parse error rejects the config.
        for set in &plugin.action_sets {
            let mut sources = set.route_rule_conditions.predicates.clone();
            for action in &set.actions {
                match plugin.services.get(&action.service).map(|s| s.kind.as_str()) {
                    Some("auth") => sources.push(conjunction(&action.predicates)),
                    Some("ratelimit" | "ratelimit-check" | "ratelimit-report") => {
                        sources.push(action_predicate(action));
                        match Message::sources(action) {
                            Ok(more) => sources.extend(more),
                            Err(EvalError(e)) => return json!({"error": e}),
                        }
                    }
                    other => {
                        return json!({"error": format!("action {:?}: service {:?} of type {other:?} is not supported",
                                                       action.scope, action.service)})
                    }
                }
            }
            for source in &sources {
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

    /// Host selection then the first action set whose route predicates hold (`pipeline/factory.rs`): the longest
    /// matching hostname only, action sets in config order within it.
    fn select(&self, request: &Request, ctx: &cel::Context) -> Result<Option<&ActionSet>, EvalError> {
        let host = request.host.split(':').next().unwrap_or("");
        if host.is_empty() {
            return Err(EvalError("the request has no host".into()));
        }
        let score = |set: &ActionSet| set.route_rule_conditions.hostnames.iter().filter_map(|h| host_matches(h, host)).max();
        let Some(best) = self.plugin.action_sets.iter().filter_map(score).max() else { return Ok(None) };
        for set in &self.plugin.action_sets {
            if score(set) == Some(best) && all(&set.route_rule_conditions.predicates, ctx)? {
                return Ok(Some(set));
            }
        }
        Ok(None)
    }

    fn route(&self, request: &Request) -> Json {
        let ctx = cel_env::context(&attributes(request, None, None));
        match self.select(request, &ctx) {
            // v0.14.1: a pipeline that cannot be built answers 500 (v0.12.3 let the request through)
            Err(EvalError(e)) => json!({"action_set": null, "auth": null, "status": 500, "error": e}),
            Ok(None) => json!({"action_set": null, "auth": null}),
            Ok(Some(set)) => {
                let auth = set.actions.iter().find(|a| self.kind(a) == "auth");
                let auth = match auth {
                    None => Json::Null,
                    Some(a) => match cel_env::predicate(&conjunction(&a.predicates), &ctx) {
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

    fn service(&self, action: &Action) -> Service {
        self.plugin.services.get(&action.service).cloned().unwrap_or(Service { kind: "unknown".into(), failure_mode: deny() })
    }

    /// The actions of the selected set, in order; each waits for the one before it. A task whose predicate or
    /// builder needs the response body waits for it, and so does everything after it. Without a response, the
    /// answer's `deferred` is the index of the first waiting action: a later call with that `resume` and the
    /// response runs the rest (a gateway answers the client in between; wasm-shim keeps the tasks in the filter).
    fn request(&self, request: &Request, identity: Option<&Json>, response: Option<&Response>,
               resume: Option<usize>) -> Json {
        let Some(limiter) = &self.limiter else { return json!({"error": "not configured"}) };
        let request_ctx = cel_env::context(&attributes(request, identity, None));
        let set = match self.select(request, &request_ctx) {
            Err(EvalError(e)) => return json!({"status": 500, "body": "Internal Server Error.\n", "calls": [], "errors": [e]}),
            Ok(None) => return json!({"status": 200, "calls": [], "errors": []}),
            Ok(Some(set)) => set,
        };
        let mut calls = Vec::new();
        let mut errors = Vec::new();
        let mut deferred = set.actions.len();
        let request_phase = if let Some(from) = resume {
            deferred = from.min(set.actions.len());
            &set.actions[..0]
        } else {
            &set.actions[..]
        };
        for (i, action) in request_phase.iter().enumerate() {
            let service = self.service(action);
            if service.kind == "auth" {
                match cel_env::predicate(&conjunction(&action.predicates), &request_ctx) {
                    Ok(true) if identity.is_none() => {
                        return json!({"error": "the auth action calls Authorino but no identity was given"})
                    }
                    Ok(_) => continue,
                    Err(EvalError(e)) => {
                        errors.push(e);
                        if service.failure_mode == "deny" {
                            return internal_error(calls, errors);
                        }
                        continue;
                    }
                }
            }
            match self.limit_action(limiter, action, &service, &request_ctx, false) {
                Step::Done(call) => calls.extend(call),
                Step::Limited(call) => {
                    calls.push(call);
                    return json!({"status": 429, "body": "Too Many Requests\n", "calls": calls, "errors": errors});
                }
                Step::Failed(e) => {
                    errors.push(e);
                    if service.failure_mode == "deny" {
                        return internal_error(calls, errors);
                    }
                }
                Step::Pending => {
                    deferred = i;
                    break;
                }
            }
        }
        if deferred < set.actions.len() {
            let Some(response) = response else {
                return json!({"status": 200, "calls": calls, "errors": errors, "deferred": deferred})
            };
            let response_ctx = cel_env::context(&attributes(request, identity, usage_document(response)));
            for action in &set.actions[deferred..] {
                let service = self.service(action);
                match self.limit_action(limiter, action, &service, &response_ctx, true) {
                    Step::Done(call) => calls.extend(call),
                    // the response is on its way to the client already
                    Step::Limited(call) => calls.push(call),
                    // a task that waited once has lost its failure mode: logged, nothing counted, nothing after it runs
                    Step::Failed(e) => {
                        errors.push(e);
                        break;
                    }
                    Step::Pending => {
                        errors.push(format!("{}: still pending at the end of the stream", action.service));
                        break;
                    }
                }
            }
        }
        json!({"status": 200, "calls": calls, "errors": errors})
    }

    /// One ratelimit / ratelimit-check / ratelimit-report action: its predicate, its request, Limitador's answer.
    fn limit_action(&self, limiter: &Limiter, action: &Action, service: &Service, ctx: &cel::Context,
                    response_phase: bool) -> Step {
        let predicate = action_predicate(action);
        // The request builder waits for the body when any of its data reads it.
        let needs_body = predicate.contains("responseBodyJSON(")
            || action.conditional_data.iter().flat_map(|cd| cd.data.iter()).any(|item| {
                item.expression.as_ref().is_some_and(|e| e.value.contains("responseBodyJSON("))
            });
        match cel_env::predicate(&predicate, ctx) {
            Ok(false) => return Step::Done(None),
            Ok(true) => {}
            Err(e) if e.is_pending() && !response_phase => return Step::Pending,
            Err(EvalError(e)) => return Step::Failed(e),
        }
        if needs_body && !response_phase {
            return Step::Pending;
        }
        let message = match Message::build(action, ctx) {
            Ok(message) => message,
            Err(e) if e.is_pending() && !response_phase => return Step::Pending,
            Err(EvalError(e)) => return Step::Failed(e),
        };
        if message.domain.is_empty() {
            // Limitador answers UNKNOWN for an empty domain; wasm-shim fails the task
            return Step::Failed("empty rate-limit domain: Limitador answers UNKNOWN".into());
        }
        let ns = Namespace::from(message.domain.as_str());
        let ctx = message.limit_context();
        let mut call = message.call(&service.kind);
        let outcome = match service.kind.as_str() {
            "ratelimit" => limiter.should_rate_limit(&ns, &ctx, message.hits),
            "ratelimit-check" => limiter.check(&ns, &ctx),
            "ratelimit-report" => limiter.report(&ns, &ctx, message.hits).map(|()| false),
            other => return Step::Failed(format!("service type {other:?} is not a rate-limit service")),
        };
        match outcome {
            Err(e) => Step::Failed(format!("limitador: {e}")),
            Ok(limited) => {
                if service.kind != "ratelimit-report" {
                    call["limited"] = json!(limited);
                }
                if limited { Step::Limited(call) } else { Step::Done(Some(call)) }
            }
        }
    }
}

/// failureMode deny: the request ends with 500.
fn internal_error(calls: Vec<Json>, errors: Vec<String>) -> Json {
    json!({"status": 500, "body": "Internal Server Error.\n", "calls": calls, "errors": errors})
}

enum Step {
    Done(Option<Json>),
    Limited(Json),
    Failed(String),
    Pending,
}
