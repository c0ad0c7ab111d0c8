//! The CEL environment wasm-shim v0.14.1 evaluates predicates and data expressions in
//! (`src/data/cel.rs` upstream), with the `cel` crate it is built from (git rev d23d0a7 = crates.io 0.14.0):
//! * parsing with CEL's optional syntax enabled (`?.`, `[?]`);
//! * bindings `request`, `source`, `destination` (host attributes), `metadata` and `auth` -- the last two always
//!   bound, `null` when absent; `auth` is Authorino's dynamic metadata as a protobuf Struct, so every number is a
//!   double and a missing key is an error (v0.12.3 answered null). `connection`, `ratelimit`, `response` and
//!   `filter_state` are never bound: referencing them is an error;
//! * the string extensions (`strings.rs`) and `responseBodyJSON`; `queryMap` is test-only upstream, so absent;
//! * `Context::default()` of cel 0.14: the standard library as type-based overloads -- no `max`, `min` or
//!   `list.contains`; `string()` of a bool or null is an error; `uint()` of a negative int wraps.

use crate::strings;
use cel::objects::Value;
use cel::parser::{Expression, Parser};
use cel::{Context, ExecutionError, FunctionContext, ResolveResult};
use serde_json::Value as Json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// What one request exposes to CEL.
#[derive(Default, Clone)]
pub struct Attributes {
    pub request: Json,
    pub source: Json,
    pub destination: Json,
    /// Authorino's dynamic metadata (`{"identity": …}` for the collection's AuthPolicy); None = no auth call.
    pub auth: Option<Json>,
    /// The response body (already reduced to one JSON document for SSE), for responseBodyJSON.
    pub response_body: Option<Json>,
}

/// Why an expression has no value yet: wasm-shim re-queues it until the response body is there.
pub const PENDING: &str = "pending: the response body has not arrived";

/// `responseBodyJSON(pointer)`: the value at a JSON pointer of the response body, kept only when it is a bool, a
/// number (uint, else int, else double) or a string (`tasks/token_usage.rs`); anything else -- null, a list, a map,
/// nothing -- stays pending, and a task still pending at the end of the stream fails.
fn response_body_json(body: &Option<Json>, ftx: &FunctionContext, pointer: Arc<String>) -> ResolveResult {
    let found = body.as_ref().and_then(|b| b.pointer(pointer.as_str()));
    match found {
        Some(Json::Bool(b)) => Ok(Value::Bool(*b)),
        Some(Json::String(s)) => Ok(Value::String(Arc::new(s.clone()))),
        Some(Json::Number(n)) => Ok(if let Some(u) = n.as_u64() {
            Value::UInt(u)
        } else if let Some(i) = n.as_i64() {
            Value::Int(i)
        } else {
            Value::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        _ => Err(ftx.error(PENDING)),
    }
}

/// A protobuf Struct seen by CEL: every JSON number a double.
fn struct_numbers(value: &Json) -> Json {
    match value {
        Json::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null),
        Json::Array(items) => Json::Array(items.iter().map(struct_numbers).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), struct_numbers(v))).collect()),
        other => other.clone(),
    }
}

fn to_cel(value: &Json, as_double: bool) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) if as_double => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(Arc::new(s.clone())),
        Json::Array(items) => Value::List(Arc::new(items.iter().map(|v| to_cel(v, as_double)).collect())),
        Json::Object(map) => {
            let entries: std::collections::HashMap<cel::objects::Key, Value> = map
                .iter()
                .map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), to_cel(v, as_double)))
                .collect();
            Value::Map(cel::objects::Map { map: Arc::new(entries) })
        }
    }
}

pub fn context(attrs: &Attributes) -> Context<'static> {
    let mut ctx = Context::default();
    ctx.add_function("split", strings::split);
    ctx.add_function("join", strings::join);
    ctx.add_function("indexOf", strings::index_of);
    ctx.add_function("lastIndexOf", strings::last_index_of);
    ctx.add_function("charAt", strings::char_at);
    ctx.add_function("lowerAscii", strings::lower_ascii);
    ctx.add_function("upperAscii", strings::upper_ascii);
    ctx.add_function("trim", strings::trim);
    ctx.add_function("replace", strings::replace);
    ctx.add_function("substring", strings::substring);
    let body = attrs.response_body.clone();
    ctx.add_function("responseBodyJSON", move |ftx: &FunctionContext, pointer: Arc<String>| {
        response_body_json(&body, ftx, pointer)
    });
    // Filled only by typed `store` actions, which the operator writes for extensions only: always pending here.
    ctx.add_function("requestBodyJSON", |ftx: &FunctionContext, _pointer: Arc<String>| -> ResolveResult {
        Err(ftx.error(PENDING))
    });
    ctx.add_variable_from_value("request", to_cel(&attrs.request, false));
    ctx.add_variable_from_value("source", to_cel(&attrs.source, false));
    ctx.add_variable_from_value("destination", to_cel(&attrs.destination, false));
    ctx.add_variable_from_value("metadata", Value::Null);
    let auth = attrs.auth.as_ref().map(struct_numbers).unwrap_or(Json::Null);
    ctx.add_variable_from_value("auth", to_cel(&auth, true));
    ctx
}

#[derive(Debug, PartialEq)]
pub struct EvalError(pub String);

impl EvalError {
    pub fn is_pending(&self) -> bool {
        self.0.contains(PENDING)
    }
}

pub fn compile(source: &str) -> Result<Expression, EvalError> {
    Parser::new()
        .enable_optional_syntax(true)
        .parse(source)
        .map_err(|e| EvalError(format!("parse error in {source:?}: {e}")))
}

pub fn eval(expression: &Expression, ctx: &Context) -> Result<Value, EvalError> {
    Value::resolve(expression, ctx).map_err(|e: ExecutionError| EvalError(e.to_string()))
}

thread_local! {
    /// Compiled sources: wasm-shim compiles each predicate and request builder once, when the configuration loads.
    static COMPILED: RefCell<HashMap<String, Rc<Expression>>> = RefCell::new(HashMap::new());
}

/// Parse (once per source) and evaluate one CEL source.
pub fn eval_source(source: &str, ctx: &Context) -> Result<Value, EvalError> {
    let cached = COMPILED.with(|c| c.borrow().get(source).cloned());
    let expression = match cached {
        Some(expression) => expression,
        None => {
            let expression = Rc::new(compile(source)?);
            COMPILED.with(|c| c.borrow_mut().insert(source.to_string(), expression.clone()));
            expression
        }
    };
    eval(&expression, ctx)
}

/// A predicate: true, false, or an error (a non-boolean result is an error too).
pub fn predicate(source: &str, ctx: &Context) -> Result<bool, EvalError> {
    match eval_source(source, ctx)? {
        Value::Bool(b) => Ok(b),
        other => Err(EvalError(format!("predicate {source:?} gave {other:?}, not a bool"))),
    }
}

/// CEL value -> JSON (for answers); durations, timestamps, bytes and functions have no JSON form here.
pub fn to_json(value: &Value) -> Result<Json, EvalError> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.to_string()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    cel::objects::Key::Int(i) => i.to_string(),
                    cel::objects::Key::Uint(u) => u.to_string(),
                    cel::objects::Key::Bool(b) => b.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Json::Object(out)
        }
        other => return Err(EvalError(format!("no JSON form for {other:?}"))),
    })
}

/// Evaluate with no attributes, for unit tests of the functions.
#[cfg(test)]
pub fn eval_str(source: &str) -> Result<Json, EvalError> {
    let ctx = context(&Attributes::default());
    to_json(&eval_source(source, &ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_standard_library_is_cel_0_14s() {
        assert!(eval_str("max(1, 2)").is_err()); // no longer in the default environment
        assert!(eval_str("[1, 2].contains(1)").is_err()); // contains is for strings only
        assert_eq!(eval_str("1 in [1, 2]"), Ok(json!(true)));
        assert!(eval_str("string(true)").is_err());
        assert!(eval_str("string(null)").is_err());
        assert_eq!(eval_str("string(5.0)"), Ok(json!("5")));
        assert_eq!(eval_str("uint(-1)"), Ok(json!(u64::MAX))); // wraps
        assert_eq!(eval_str("uint(12.7)"), Ok(json!(12)));
    }

    #[test]
    fn errors_are_absorbed_by_and_and_or() {
        assert_eq!(eval_str("auth.identity.x == 1 || true"), Ok(json!(true)));
        assert_eq!(eval_str("auth.identity.x == 1 && false"), Ok(json!(false)));
        assert!(eval_str("auth.identity.x == 1 || false").is_err());
    }

    #[test]
    fn optional_syntax_is_enabled() {
        assert_eq!(eval_str("{'a': 1}[?'b'].orValue(2)"), Ok(json!(2)));
    }

    #[test]
    fn auth_is_a_struct_numbers_are_doubles_and_a_missing_key_is_an_error() {
        let attrs = Attributes { auth: Some(json!({"identity": {"n": 3, "tier": "pro"}})), ..Default::default() };
        let ctx = context(&attrs);
        assert_eq!(predicate("auth.identity.n == 3.0", &ctx), Ok(true));
        assert!(predicate("auth.identity.missing == 'x'", &ctx).is_err());
        assert_eq!(predicate("has(auth.identity.tier)", &ctx), Ok(true));
        let none = context(&Attributes::default());
        assert_eq!(predicate("auth == null", &none), Ok(true));
    }

    #[test]
    fn response_body_json_keeps_scalars_and_leaves_the_rest_pending() {
        let attrs = Attributes { response_body: Some(json!({"usage": {"total_tokens": 7, "x": null, "neg": -2}})),
                                 ..Default::default() };
        let ctx = context(&attrs);
        assert_eq!(to_json(&eval_source("responseBodyJSON('/usage/total_tokens')", &ctx).unwrap()), Ok(json!(7)));
        assert_eq!(eval_source("responseBodyJSON('/usage/total_tokens') == 7u", &ctx).map(|v| v == Value::Bool(true)), Ok(true));
        assert_eq!(eval_source("responseBodyJSON('/usage/neg') == -2", &ctx).map(|v| v == Value::Bool(true)), Ok(true));
        for pending in ["responseBodyJSON('/usage/x')", "responseBodyJSON('/usage')", "responseBodyJSON('/nothing')"] {
            assert!(eval_source(pending, &ctx).unwrap_err().is_pending(), "{pending}");
        }
        assert!(eval_source("responseBodyJSON('/usage/total_tokens')", &context(&Attributes::default()))
            .unwrap_err()
            .is_pending());
    }
}
