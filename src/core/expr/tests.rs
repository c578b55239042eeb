//! The evaluator against the conditions Argo Rollouts documents and tests
//! (docs/features/analysis.md, docs/analysis/prometheus.md, utils/evaluate), with the values
//! a Prometheus scalar or vector gives.

use super::{Condition, Value};

fn eval(condition: &str, result: &Value) -> Result<bool, String> {
    Condition::parse(condition)
        .and_then(|c| c.eval(result))
        .map_err(|e| e.0)
}

fn vector(values: &[f64]) -> Value {
    Value::List(values.iter().map(|v| Value::Float(*v)).collect())
}

#[test]
fn documented_conditions_over_vectors_and_scalars() {
    let table: &[(&str, Value, bool)] = &[
        ("result[0] >= 0.95", vector(&[0.97]), true),
        ("result[0] >= 0.95", vector(&[0.94]), false),
        ("result[0] <= 0.01", vector(&[0.001]), true),
        ("result >= 0.95", Value::Float(0.99), true),
        ("result > 1", Value::Float(5.0), true),
        ("len(result) == 0 || result[0] >= 0.95", vector(&[]), true),
        (
            "len(result) == 0 || result[0] >= 0.95",
            vector(&[0.5]),
            false,
        ),
        (
            "isNaN(result) || result >= 0.95",
            Value::Float(f64::NAN),
            true,
        ),
        (
            "isNaN(result[0]) || result[0] >= 0.95",
            vector(&[0.96]),
            true,
        ),
        (
            "!isNaN(result) && result >= 0.95",
            Value::Float(f64::NAN),
            false,
        ),
        ("isInf(result)", Value::Float(f64::INFINITY), true),
        ("default(result, 0) >= 0.95", Value::Nil, false),
        ("default(result, 1) >= 0.95", Value::Nil, true),
        ("default(result, 0) >= 0.95", Value::Float(0.99), true),
        ("isNil(result)", Value::Nil, true),
        ("isNil(result)", vector(&[]), false),
        ("asInt(result) == 1", Value::Str("1".into()), true),
        ("asInt(result) == 1", Value::Int(1), true),
        ("asInt(result) == 1", Value::Float(1.123), true),
        ("asFloat(result) == 1.1", Value::Str("1.1".into()), true),
        ("asFloat(result) >= 1.1", Value::Str("1.1".into()), true),
        ("asFloat(result) == 1", Value::Int(1), true),
        ("result == true", Value::Bool(true), true),
        ("result == false", Value::Bool(true), false),
        ("2 in result", vector(&[1.0, 2.0, 3.0]), true),
        ("result[-1] < 0.5", vector(&[0.9, 0.1]), true),
        (
            "result[0] * 100 >= 99 and not (result[0] > 1)",
            vector(&[0.995]),
            true,
        ),
        (
            "(result[0] + result[1]) / 2 == 0.5",
            vector(&[0.25, 0.75]),
            true,
        ),
        (
            "7 % 4 == 3 && 1 / 2 == 0.5 && -result[0] < 0",
            vector(&[1.0]),
            true,
        ),
        ("result[0] > 0.5 ? true : false", vector(&[0.7]), true),
        ("1 == 1.0 && 2 != 3", Value::Nil, true),
    ];
    for (condition, result, want) in table {
        assert_eq!(
            eval(condition, result),
            Ok(*want),
            "{condition} with result {result}"
        );
    }
}

/// NaN compares false, as in Go: with only a success condition the measurement fails, with a
/// failure condition too it is inconclusive (analysis.rs decides that from these two).
#[test]
fn nan_compares_false_both_ways() {
    let nan = vector(&[f64::NAN]);
    assert_eq!(eval("result[0] >= 0.99", &nan), Ok(false));
    assert_eq!(eval("result[0] < 0.99", &nan), Ok(false));
    assert_eq!(eval("result[0] == result[0]", &nan), Ok(false));
}

#[test]
fn errors_name_what_is_wrong() {
    let table: &[(&str, Value, &str)] = &[
        ("1", Value::Bool(true), "expected bool, but got int"),
        (
            "result[0]",
            vector(&[0.5]),
            "expected bool, but got float64",
        ),
        (
            "invalidVariable",
            Value::Bool(true),
            "unknown name invalidVariable",
        ),
        (
            "result[0] >= 0.95",
            vector(&[]),
            "index out of range: 0 (array length is 0)",
        ),
        (
            "result >= 0.95",
            vector(&[0.99]),
            "invalid operation: []float64 Ge float64",
        ),
        (
            "asFloat(result) == \"1.1\"",
            Value::Str("1.1".into()),
            "mismatched types float64 and string",
        ),
        (
            "asFloat(result) == 1.1",
            Value::Str("NotANum".into()),
            "asFloat(\"NotANum\")",
        ),
        (
            "asInt(result) == 1",
            Value::Str("1.1".into()),
            "asInt(\"1.1\")",
        ),
        (
            "result.Name() == 'hi'",
            Value::Bool(true),
            "unexpected character '.'",
        ),
        ("result[0] >=", vector(&[1.0]), "unexpected end"),
        ("(result[0] > 1", vector(&[1.0]), "expected \")\""),
        (
            "len(result, 1) == 0",
            vector(&[]),
            "len() takes 1 argument(s), got 2",
        ),
        (
            "result[0] > 1 && 5",
            vector(&[2.0]),
            "invalid operation: && on int",
        ),
        (
            "isNaN(result)",
            vector(&[1.0]),
            "isNaN() not supported on []float64",
        ),
        ("'unterminated", Value::Nil, "unterminated string"),
    ];
    for (condition, result, want) in table {
        let got = eval(condition, result).expect_err(condition);
        assert!(
            got.contains(want),
            "{condition}: {got:?} should say {want:?}"
        );
    }
}

#[test]
fn logic_short_circuits_like_expr() {
    // The right side would be an index error; `||` never evaluates it.
    assert_eq!(eval("true || result[5] > 1", &vector(&[])), Ok(true));
    assert_eq!(eval("false && result[5] > 1", &vector(&[])), Ok(false));
}
