//! wasm-shim's CEL string extension functions (`src/data/cel/strings.rs`, unchanged from v0.12.3 to v0.14.1),
//! written here from their behaviour: receiver-style; counts and offsets are Rust `as usize` casts, so a negative
//! one is huge; `split(sep, n)` is `splitn` (0 -> [], negative -> unlimited), `replace(a, b, n)` is `replacen`;
//! `indexOf` / `lastIndexOf` work on BYTE offsets and answer Int -1 or a UInt index -- -1 also when `from` is at
//! or past the end; `lastIndexOf(s, from)` answers an index relative to `from`; `charAt` errors out of range;
//! `substring` is character-based, clamps past the end and errors only when end < start.

use cel::extractors::{Arguments, This};
use cel::objects::Value;
use cel::{ExecutionError, FunctionContext, ResolveResult};
use std::sync::Arc;

fn string_arg(ftx: &FunctionContext, args: &[Value], i: usize) -> Result<Arc<String>, ExecutionError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ftx.error(format!("argument {i} must be a string, got {other:?}"))),
        None => Err(ftx.error(format!("missing argument {i}"))),
    }
}

fn int_arg(ftx: &FunctionContext, args: &[Value], i: usize) -> Result<i64, ExecutionError> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::UInt(n)) => Ok(*n as i64),
        Some(other) => Err(ftx.error(format!("argument {i} must be an int, got {other:?}"))),
        None => Err(ftx.error(format!("missing argument {i}"))),
    }
}

fn strings(pieces: Vec<&str>) -> Value {
    Value::List(Arc::new(pieces.into_iter().map(|p| Value::String(Arc::new(p.to_string()))).collect()))
}

pub fn split(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let sep = string_arg(ftx, &args, 0)?;
    match args.len() {
        1 => Ok(strings(this.split(sep.as_str()).collect())),
        2 => Ok(strings(this.splitn(int_arg(ftx, &args, 1)? as usize, sep.as_str()).collect())),
        got => Err(ftx.error(format!("split takes 1 or 2 arguments, got {got}"))),
    }
}

pub fn join(ftx: &FunctionContext, This(this): This<Arc<Vec<Value>>>, Arguments(args): Arguments) -> ResolveResult {
    let sep = if args.is_empty() { Arc::new(String::new()) } else { string_arg(ftx, &args, 0)? };
    let mut parts = Vec::with_capacity(this.len());
    for item in this.iter() {
        match item {
            Value::String(s) => parts.push(s.as_str().to_string()),
            other => return Err(ftx.error(format!("join needs a list of strings, found {other:?}"))),
        }
    }
    Ok(Value::String(Arc::new(parts.join(sep.as_str()))))
}

/// The `from` argument of `indexOf` / `lastIndexOf` as a byte offset: Rust `as usize`, so a negative value
/// becomes huge (and answers -1 below).
fn byte_offset(ftx: &FunctionContext, args: &[Value]) -> Result<Option<usize>, ExecutionError> {
    match args.get(1) {
        None => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n as usize)),
        Some(Value::UInt(n)) => Ok(Some(*n as usize)),
        Some(other) => Err(ftx.error(format!("the 2nd argument must be an integer, got {other:?}"))),
    }
}

/// The rest of the string from a byte offset; upstream slices there and would panic off a character boundary --
/// an error here.
fn tail<'s>(ftx: &FunctionContext, this: &'s str, from: usize) -> Result<&'s str, ExecutionError> {
    this.get(from..).ok_or_else(|| ftx.error(format!("byte offset {from} is not a character boundary")))
}

fn found(index: Option<usize>) -> Value {
    match index {
        Some(i) => Value::UInt(i as u64),
        None => Value::Int(-1),
    }
}

pub fn index_of(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let needle = string_arg(ftx, &args, 0)?;
    match byte_offset(ftx, &args)? {
        None => Ok(found(this.find(needle.as_str()))),
        Some(from) if from >= this.len() => Ok(Value::Int(-1)),
        Some(from) => Ok(found(tail(ftx, &this, from)?.find(needle.as_str()).map(|i| from + i))),
    }
}

pub fn last_index_of(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let needle = string_arg(ftx, &args, 0)?;
    match byte_offset(ftx, &args)? {
        None => Ok(found(this.rfind(needle.as_str()))),
        Some(from) if from >= this.len() => Ok(Value::Int(-1)),
        // relative to `from`, as upstream answers it
        Some(from) => Ok(found(tail(ftx, &this, from)?.rfind(needle.as_str()))),
    }
}

pub fn char_at(ftx: &FunctionContext, This(this): This<Arc<String>>, i: i64) -> ResolveResult {
    match this.chars().nth(i as usize) {
        Some(c) => Ok(Value::String(Arc::new(c.to_string()))),
        None => Err(ftx.error(format!("no index {i} in {this:?}"))),
    }
}

pub fn lower_ascii(_ftx: &FunctionContext, This(this): This<Arc<String>>) -> ResolveResult {
    Ok(Value::String(Arc::new(this.to_ascii_lowercase())))
}

pub fn upper_ascii(_ftx: &FunctionContext, This(this): This<Arc<String>>) -> ResolveResult {
    Ok(Value::String(Arc::new(this.to_ascii_uppercase())))
}

pub fn trim(_ftx: &FunctionContext, This(this): This<Arc<String>>) -> ResolveResult {
    Ok(Value::String(Arc::new(this.trim().to_string())))
}

pub fn replace(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let from = string_arg(ftx, &args, 0)?;
    let to = string_arg(ftx, &args, 1)?;
    Ok(Value::String(Arc::new(if args.len() > 2 {
        this.replacen(from.as_str(), to.as_str(), int_arg(ftx, &args, 2)? as usize)
    } else {
        this.replace(from.as_str(), to.as_str())
    })))
}

pub fn substring(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let start = int_arg(ftx, &args, 0)? as usize;
    let end = if args.len() > 1 { int_arg(ftx, &args, 1)? as usize } else { this.chars().count() };
    if end < start {
        return Err(ftx.error(format!("substring end {end} is before its start {start}")));
    }
    // characters, clamped to the string (no error past its end)
    Ok(Value::String(Arc::new(this.chars().skip(start).take(end - start).collect())))
}

#[cfg(test)]
mod tests {
    use crate::cel_env::eval_str as eval;
    use serde_json::json;

    #[test]
    fn split_is_rust_str_split() {
        assert_eq!(eval(r#""free,pro".split(",")"#), Ok(json!(["free", "pro"])));
        assert_eq!(eval(r#""".split(",")"#), Ok(json!([""])));          // one empty piece, not []
        assert_eq!(eval(r#""free".split(",")"#), Ok(json!(["free"])));
        assert_eq!(eval(r#""a,,b,".split(",")"#), Ok(json!(["a", "", "b", ""])));
        assert_eq!(eval(r#""ab".split("")"#), Ok(json!(["", "a", "b", ""])));  // leading/trailing "" (cel-go differs)
    }

    #[test]
    fn split_with_a_count_is_splitn() {
        assert_eq!(eval(r#""a,b,c".split(",", 2)"#), Ok(json!(["a", "b,c"])));
        assert_eq!(eval(r#""a,b,c".split(",", 0)"#), Ok(json!([])));
        assert_eq!(eval(r#""a,b,c".split(",", -1)"#), Ok(json!(["a", "b", "c"])));
    }

    #[test]
    fn split_on_null_or_a_non_string_is_an_error() {
        assert!(eval(r#"null.split(",")"#).is_err());
        assert!(eval(r#"1.split(",")"#).is_err());
    }

    #[test]
    fn join_takes_a_list_of_strings() {
        assert_eq!(eval(r#"["a", "b"].join(",")"#), Ok(json!("a,b")));
        assert_eq!(eval(r#"["a", "b"].join()"#), Ok(json!("ab")));
        assert!(eval(r#"["a", 1].join(",")"#).is_err());
    }

    #[test]
    fn index_of_answers_int_minus_one_or_a_uint() {
        assert_eq!(eval(r#""free,pro".indexOf("pro")"#), Ok(json!(5)));
        assert_eq!(eval(r#""free,pro".indexOf("pro") == 5u"#), Ok(json!(true)));  // a UInt
        assert_eq!(eval(r#""free".indexOf("x") == -1"#), Ok(json!(true)));         // an Int
        assert_eq!(eval(r#""abcabc".indexOf("c", 3)"#), Ok(json!(5)));
    }

    #[test]
    fn last_index_of_with_from_is_relative_to_from() {
        assert_eq!(eval(r#""abcabc".lastIndexOf("c")"#), Ok(json!(5)));
        assert_eq!(eval(r#""abcabc".lastIndexOf("a", 1)"#), Ok(json!(2)));  // found at 3, i.e. 2 after `from`
        assert_eq!(eval(r#""abc".lastIndexOf("x") == -1"#), Ok(json!(true)));
    }

    #[test]
    fn char_at_errors_out_of_range() {
        assert_eq!(eval(r#""héllo".charAt(1)"#), Ok(json!("é")));
        assert!(eval(r#""abc".charAt(3)"#).is_err());
    }

    #[test]
    fn case_trim_and_replace() {
        assert_eq!(eval(r#""Free".lowerAscii()"#), Ok(json!("free")));
        assert_eq!(eval(r#""Free".upperAscii()"#), Ok(json!("FREE")));
        assert_eq!(eval(r#"" pro ".trim()"#), Ok(json!("pro")));
        assert_eq!(eval(r#""a-a-a".replace("-", "+")"#), Ok(json!("a+a+a")));
        assert_eq!(eval(r#""a-a-a".replace("-", "+", 1)"#), Ok(json!("a+a-a")));
    }

    #[test]
    fn substring_is_character_based() {
        assert_eq!(eval(r#""héllo".substring(1, 3)"#), Ok(json!("él")));
        assert_eq!(eval(r#""hello".substring(2)"#), Ok(json!("llo")));
        assert!(eval(r#""hello".substring(3, 1)"#).is_err());
    }

    #[test]
    fn offsets_are_bytes_and_out_of_range_answers_minus_one() {
        assert_eq!(eval(r#""héllo".indexOf("l")"#), Ok(json!(3))); // é is two bytes
        assert_eq!(eval(r#""abc".indexOf("", 3) == -1"#), Ok(json!(true)));
        assert_eq!(eval(r#""abc".indexOf("a", -1) == -1"#), Ok(json!(true)));
        assert_eq!(eval(r#""abc".lastIndexOf("c", 5) == -1"#), Ok(json!(true)));
        assert!(eval(r#""héllo".indexOf("l", 2)"#).is_err()); // inside é
    }

    #[test]
    fn substring_clamps_past_the_end_and_counts_are_usize_casts() {
        assert_eq!(eval(r#""hello".substring(3, 100)"#), Ok(json!("lo")));
        assert!(eval(r#""hello".substring(9)"#).is_err()); // end (the length) before start
        assert_eq!(eval(r#""a-a-a".replace("-", "+", -1)"#), Ok(json!("a+a+a")));
        assert!(eval(r#""abc".charAt(-1)"#).is_err());
    }
}
