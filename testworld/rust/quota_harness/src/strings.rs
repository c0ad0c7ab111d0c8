//! wasm-shim v0.12.3's CEL string extension functions (`src/data/cel/strings.rs` upstream),
//! written here from the semantics recorded in `../shared/research/kuadrant-translation.md` §4:
//! receiver-style; `split` is Rust's `str::split`, `split(sep, n)` is `splitn` (n = 0 -> [],
//! negative -> unlimited); `indexOf` answers Int -1 or a UInt index; `lastIndexOf(s, from)`
//! answers an index relative to `from`; `charAt` errors out of range; `substring` is
//! character-based and errors when end < start.

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
        2 => {
            let n = int_arg(ftx, &args, 1)?;
            if n < 0 {
                Ok(strings(this.split(sep.as_str()).collect()))
            } else {
                Ok(strings(this.splitn(n as usize, sep.as_str()).collect()))
            }
        }
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

fn char_index(haystack: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return if from <= haystack.len() { Some(from) } else { None };
    }
    (from..haystack.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// (haystack, needle, from) of `indexOf` / `lastIndexOf`, as characters; `from` checked against the haystack.
fn search_args(ftx: &FunctionContext, this: &str, args: &[Value]) -> Result<(Vec<char>, Vec<char>, usize), ExecutionError> {
    let needle: Vec<char> = string_arg(ftx, args, 0)?.chars().collect();
    let hay: Vec<char> = this.chars().collect();
    let from = if args.len() > 1 { int_arg(ftx, args, 1)? } else { 0 };
    if from < 0 || from as usize > hay.len() {
        return Err(ftx.error(format!("index {from} out of range")));
    }
    Ok((hay, needle, from as usize))
}

pub fn index_of(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let (hay, needle, from) = search_args(ftx, &this, &args)?;
    Ok(match char_index(&hay, &needle, from) {
        Some(i) => Value::UInt(i as u64),
        None => Value::Int(-1),
    })
}

pub fn last_index_of(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let (hay, needle, from) = search_args(ftx, &this, &args)?;
    let tail = &hay[from..];
    let found = if needle.is_empty() {
        Some(tail.len())
    } else {
        (0..tail.len()).rev().find(|&i| tail[i..].starts_with(&needle))
    };
    Ok(match found {
        Some(i) => Value::UInt(i as u64),
        None => Value::Int(-1),
    })
}

pub fn char_at(ftx: &FunctionContext, This(this): This<Arc<String>>, i: i64) -> ResolveResult {
    let chars: Vec<char> = this.chars().collect();
    if i < 0 || i as usize >= chars.len() {
        return Err(ftx.error(format!("index {i} out of range for a string of {} characters", chars.len())));
    }
    Ok(Value::String(Arc::new(chars[i as usize].to_string())))
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
    let n = if args.len() > 2 { int_arg(ftx, &args, 2)? } else { -1 };
    Ok(Value::String(Arc::new(if n < 0 {
        this.replace(from.as_str(), to.as_str())
    } else {
        this.replacen(from.as_str(), to.as_str(), n as usize)
    })))
}

pub fn substring(ftx: &FunctionContext, This(this): This<Arc<String>>, Arguments(args): Arguments) -> ResolveResult {
    let chars: Vec<char> = this.chars().collect();
    let start = int_arg(ftx, &args, 0)?;
    let end = if args.len() > 1 { int_arg(ftx, &args, 1)? } else { chars.len() as i64 };
    if start < 0 || end > chars.len() as i64 || start > chars.len() as i64 {
        return Err(ftx.error(format!("substring({start}, {end}) out of range for {} characters", chars.len())));
    }
    if end < start {
        return Err(ftx.error(format!("substring end {end} is before its start {start}")));
    }
    Ok(Value::String(Arc::new(chars[start as usize..end as usize].iter().collect())))
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
}
