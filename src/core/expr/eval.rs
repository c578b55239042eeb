//! Evaluation with expr's runtime rules: numbers across int and float, `/` as floats, NaN
//! unequal, `||`/`&&` short-circuiting, mismatched `==` an error.

use std::fmt;

use super::{ExprError, Func, Node, Op, Unary, Value, fail};

pub(super) fn eval(node: &Node, result: &Value) -> Result<Value, ExprError> {
    match node {
        Node::Lit(v) => Ok(v.clone()),
        Node::Result => Ok(result.clone()),
        Node::Index(list, index) => index_of(&eval(list, result)?, &eval(index, result)?),
        Node::Call(func, args) => call(*func, args, result),
        Node::Not(inner) => match eval(inner, result)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            other => fail(format!("invalid operation: ! {}", other.type_name())),
        },
        Node::Neg(inner) => match eval(inner, result)? {
            Value::Int(i) => Ok(Value::Int(i.wrapping_neg())),
            Value::Float(x) => Ok(Value::Float(-x)),
            other => fail(format!("invalid operation: - {}", other.type_name())),
        },
        Node::If(cond, then, otherwise) => match eval(cond, result)? {
            Value::Bool(true) => eval(then, result),
            Value::Bool(false) => eval(otherwise, result),
            other => fail(format!("non-bool {} used as condition", other.type_name())),
        },
        Node::Binary(Op::Or | Op::And, ..) => logic(node, result),
        Node::Binary(op, l, r) => binary(*op, &eval(l, result)?, &eval(r, result)?),
    }
}

/// `||` and `&&`, short-circuiting as expr does.
fn logic(node: &Node, result: &Value) -> Result<Value, ExprError> {
    let Node::Binary(op, l, r) = node else {
        return fail("not a logical operation");
    };
    let side = |n: &Node| match eval(n, result)? {
        Value::Bool(b) => Ok(b),
        other => fail(format!(
            "invalid operation: {} on {}",
            if *op == Op::Or { "||" } else { "&&" },
            other.type_name()
        )),
    };
    let left = side(l)?;
    Ok(Value::Bool(match op {
        Op::Or => left || side(r)?,
        _ => left && side(r)?,
    }))
}

fn index_of(list: &Value, index: &Value) -> Result<Value, ExprError> {
    let (Value::List(items), Value::Int(i)) = (list, index) else {
        return fail(format!(
            "cannot index {} with {}",
            list.type_name(),
            index.type_name()
        ));
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let at = if *i < 0 { len + i } else { *i };
    usize::try_from(at)
        .ok()
        .and_then(|at| items.get(at))
        .cloned()
        .map_or_else(
            || fail(format!("index out of range: {i} (array length is {len})")),
            Ok,
        )
}

fn binary(op: Op, l: &Value, r: &Value) -> Result<Value, ExprError> {
    let bad = || {
        fail(format!(
            "invalid operation: {} {op:?} {}",
            l.type_name(),
            r.type_name()
        ))
    };
    match op {
        Op::Eq | Op::Ne => {
            let same = match (l.number(), r.number()) {
                #[expect(clippy::float_cmp, reason = "expr's `==` is exact, NaN unequal")]
                (Some(a), Some(b)) => a == b,
                _ if l.type_name() == r.type_name() || *l == Value::Nil || *r == Value::Nil => {
                    l == r
                }
                _ => {
                    return fail(format!(
                        "invalid operation: {} (mismatched types {} and {})",
                        if op == Op::Eq { "==" } else { "!=" },
                        l.type_name(),
                        r.type_name()
                    ));
                }
            };
            Ok(Value::Bool(same == (op == Op::Eq)))
        }
        Op::In => match r {
            Value::List(items) => {
                Ok(Value::Bool(items.iter().any(|i| {
                    matches!(binary(Op::Eq, l, i), Ok(Value::Bool(true)))
                })))
            }
            _ => bad(),
        },
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = match (l, r) {
                (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
                _ => match (l.number(), r.number()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => return bad(),
                },
            };
            // NaN compares false either way, as in Go.
            Ok(Value::Bool(ordering.is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            })))
        }
        _ => arithmetic(op, l, r).map_or_else(bad, Ok),
    }
}

fn arithmetic(op: Op, l: &Value, r: &Value) -> Option<Value> {
    if let (Value::Str(a), Value::Str(b), Op::Add) = (l, r, op) {
        return Some(Value::Str(format!("{a}{b}")));
    }
    if let (Value::Int(a), Value::Int(b)) = (l, r) {
        return match op {
            Op::Add => Some(Value::Int(a.wrapping_add(*b))),
            Op::Sub => Some(Value::Int(a.wrapping_sub(*b))),
            Op::Mul => Some(Value::Int(a.wrapping_mul(*b))),
            Op::Rem => a.checked_rem(*b).map(Value::Int),
            #[expect(clippy::cast_precision_loss, reason = "expr's `/` divides as floats")]
            _ => Some(Value::Float(*a as f64 / *b as f64)),
        };
    }
    let (a, b) = (l.number()?, r.number()?);
    Some(Value::Float(match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        _ => return None,
    }))
}

fn call(func: Func, args: &[Node], result: &Value) -> Result<Value, ExprError> {
    // As in Argo Rollouts, `isNil` and `default` look at the measurement's result itself.
    match func {
        Func::IsNil => Ok(Value::Bool(*result == Value::Nil)),
        Func::Default if *result == Value::Nil => eval(&args[1], result),
        Func::Default => Ok(result.clone()),
        Func::Of(f) => unary(f, &eval(&args[0], result)?),
    }
}

fn unary(f: Unary, arg: &Value) -> Result<Value, ExprError> {
    let number = |name: &str| {
        arg.number().map_or_else(
            || fail(format!("{name}() not supported on {}", arg.type_name())),
            Ok,
        )
    };
    let parsed = |name: &str, e: &dyn fmt::Display| ExprError(format!("{name}({arg}): {e}"));
    Ok(match (f, arg) {
        (Unary::Len, Value::List(items)) => {
            Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX))
        }
        (Unary::Len, Value::Str(s)) => {
            Value::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX))
        }
        (Unary::Len, other) => {
            return fail(format!(
                "invalid argument for len (type {})",
                other.type_name()
            ));
        }
        (Unary::IsNaN, _) => Value::Bool(number("isNaN")?.is_nan()),
        (Unary::IsInf, _) => Value::Bool(number("isInf")?.is_infinite()),
        (Unary::AsInt, Value::Str(s)) => {
            Value::Int(s.trim().parse().map_err(|e| parsed("asInt", &e))?)
        }
        (Unary::AsInt, Value::Int(i)) => Value::Int(*i),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "Go's int64(f) truncates too"
        )]
        (Unary::AsInt, _) => Value::Int(number("asInt")? as i64),
        (Unary::AsFloat, Value::Str(s)) => {
            Value::Float(s.trim().parse().map_err(|e| parsed("asFloat", &e))?)
        }
        (Unary::AsFloat, _) => Value::Float(number("asFloat")?),
    })
}
