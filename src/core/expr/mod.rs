//! Analysis conditions (no stage: `config` parses them, `rollout` evaluates them): the subset
//! of the expr language Argo Rollouts evaluates `successCondition` and `failureCondition` in,
//! over one measurement's `result`.
//!
//! Input: a condition such as `result[0] >= 0.99 && !isNaN(result[0])` and the result (a
//! Prometheus scalar is a number, a vector a list of numbers). Output: `true`/`false`, or an
//! error — a syntax error, an unknown name, a type error (`result >= 1` on a list), an index
//! out of range (an empty vector), or a value that is not boolean. Numbers follow expr: `int`
//! and `float` compare and add across, `/` always divides as floats, and NaN compares false.
//! Functions: `len`, `isNaN`, `isInf`, `isNil`, `default`, `asInt`, `asFloat`; operators:
//! `||`/`or`, `&&`/`and`, `!`/`not`, `== != < <= > >=`, `+ - * / %`, unary `-`, `a ? b : c`,
//! indexing (negative counts from the end), parentheses.

mod eval;
mod lex;
mod parse;

use std::fmt;

/// A value inside an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
}

impl Value {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float64",
            Self::Str(_) => "string",
            Self::List(_) => "[]float64",
        }
    }

    pub(super) fn number(&self) -> Option<f64> {
        match self {
            #[expect(
                clippy::cast_precision_loss,
                reason = "expr compares int with float so"
            )]
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("nil"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

pub(super) fn fail<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(message.into()))
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Lit(Value),
    Result,
    Index(Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    If(Box<Node>, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    /// `isNil(_)`: whether the measurement's result is nil, as in Argo Rollouts.
    IsNil,
    /// `default(_, d)`: the result, or `d` when it is nil.
    Default,
    Of(Unary),
}

/// The functions of one argument that look at their argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unary {
    Len,
    IsNaN,
    IsInf,
    AsInt,
    AsFloat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Condition {
    /// Parses `source`.
    ///
    /// # Errors
    ///
    /// A syntax error or an unknown name, with the column where it is.
    pub fn parse(source: &str) -> Result<Self, ExprError> {
        let tokens = lex::lex(source)?;
        let mut p = parse::Parser { tokens, at: 0 };
        let root = p.ternary()?;
        if let Some((col, t)) = p.tokens.get(p.at) {
            return fail(format!("unexpected {t} at column {col}"));
        }
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition over `result`; it must come out boolean.
    ///
    /// # Errors
    ///
    /// A type error, an index out of range, or a result that is not boolean.
    pub fn eval(&self, result: &Value) -> Result<bool, ExprError> {
        match eval::eval(&self.root, result)? {
            Value::Bool(b) => Ok(b),
            other => fail(format!("expected bool, but got {}", other.type_name())),
        }
    }
}

#[cfg(test)]
mod tests;
