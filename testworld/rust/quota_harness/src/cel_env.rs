//! The CEL environment wasm-shim v0.12.3 evaluates predicates and data expressions in
//! (`src/data/cel.rs` `Expression::eval` / `create_context` upstream; research §3-§4):
//! bindings `request`, `source`, `destination`, `metadata`, `auth` (the Authorino dynamic
//! metadata, each leaf a JSON value) -- `connection` and `ratelimit` are NOT bound, so
//! referencing them is an error -- plus the string extensions and `responseBodyJSON`.

use crate::strings;
use cel::objects::Value;
use cel::{Context, ExecutionError, FunctionContext, Program, ResolveResult};
use serde_json::Value as Json;
use std::sync::Arc;

const RESPONSE_BODY: &str = "__tokenlabs_response_body_json";

/// What one request exposes to CEL.
#[derive(Default, Clone)]
pub struct Attributes {
    pub request: Json,
    pub source: Json,
    pub destination: Json,
    pub auth: Option<Json>,
    /// The response body (already reduced to one JSON document for SSE), for responseBodyJSON.
    pub response_body: Option<Json>,
}

fn response_body_json(ftx: &FunctionContext, pointer: Arc<String>) -> ResolveResult {
    let body = ftx.ptx.get_variable(RESPONSE_BODY).map_err(|_| ftx.error("no response body in this phase"))?;
    let json = match body {
        Value::Null => return Err(ftx.error("no response body in this phase")),
        other => to_json(&other).map_err(|EvalError(e)| ftx.error(format!("response body is not JSON: {e}")))?,
    };
    match json.pointer(pointer.as_str()) {
        Some(found) => Ok(cel::to_value(found).map_err(|e| ftx.error(e.to_string()))?),
        None => Err(ftx.error(format!("{pointer} not found in the response body"))),
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
    ctx.add_function("responseBodyJSON", response_body_json);
    let bind = |ctx: &mut Context, name: &str, value: &Json| {
        ctx.add_variable(name, value.clone()).expect("JSON converts to CEL");
    };
    bind(&mut ctx, "request", &attrs.request);
    bind(&mut ctx, "source", &attrs.source);
    bind(&mut ctx, "destination", &attrs.destination);
    bind(&mut ctx, "metadata", &Json::Object(Default::default()));
    if let Some(auth) = &attrs.auth {
        bind(&mut ctx, "auth", auth);
    }
    bind(&mut ctx, RESPONSE_BODY, attrs.response_body.as_ref().unwrap_or(&Json::Null));
    ctx
}

#[derive(Debug, PartialEq)]
pub struct EvalError(pub String);

pub fn compile(source: &str) -> Result<Program, EvalError> {
    Program::compile(source).map_err(|e| EvalError(format!("parse error in {source:?}: {e}")))
}

pub fn eval(program: &Program, ctx: &Context) -> Result<Value, EvalError> {
    program.execute(ctx).map_err(|e: ExecutionError| EvalError(e.to_string()))
}

/// A predicate: true, false, or an error (a non-boolean result is an error too).
pub fn predicate(source: &str, ctx: &Context) -> Result<bool, EvalError> {
    match eval(&compile(source)?, ctx)? {
        Value::Bool(b) => Ok(b),
        other => Err(EvalError(format!("predicate {source:?} gave {other:?}, not a bool"))),
    }
}

/// CEL value -> JSON (for answers and for the response body); durations, timestamps, bytes and
/// functions have no JSON form here.
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
    to_json(&eval(&compile(source)?, &ctx)?)
}
