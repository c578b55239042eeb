//! Precedence-climbing parser of a condition into the evaluator's tree; names are resolved
//! here, so an unknown name is a parse error, as expr reports it at compile time.

use super::lex::Token;
use super::{ExprError, Func, Node, Op, Unary, Value, fail};

pub(super) struct Parser {
    pub(super) tokens: Vec<(usize, Token)>,
    pub(super) at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn eat(&mut self, punct: &str) -> bool {
        let hit = matches!(self.peek(), Some(Token::Punct(p)) if *p == punct)
            || matches!(self.peek(), Some(Token::Ident(w)) if w == punct);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn expect(&mut self, punct: &str) -> Result<(), ExprError> {
        if self.eat(punct) {
            return Ok(());
        }
        match self.tokens.get(self.at) {
            Some((col, t)) => fail(format!("expected {punct:?} at column {col}, found {t}")),
            None => fail(format!("expected {punct:?} at the end")),
        }
    }

    pub(super) fn ternary(&mut self) -> Result<Node, ExprError> {
        let cond = self.binary(0)?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let then = self.ternary()?;
        self.expect(":")?;
        let otherwise = self.ternary()?;
        Ok(Node::If(
            Box::new(cond),
            Box::new(then),
            Box::new(otherwise),
        ))
    }

    /// Binary operators by precedence level, lowest first.
    fn binary(&mut self, level: usize) -> Result<Node, ExprError> {
        const LEVELS: &[&[(&str, Op)]] = &[
            &[("||", Op::Or), ("or", Op::Or)],
            &[("&&", Op::And), ("and", Op::And)],
            &[
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("in", Op::In),
            ],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        'more: loop {
            for (text, op) in *ops {
                if self.eat(text) {
                    let right = self.binary(level + 1)?;
                    left = Node::Binary(*op, Box::new(left), Box::new(right));
                    continue 'more;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.eat("!") || self.eat("not") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        let mut node = self.primary()?;
        while self.eat("[") {
            let index = self.ternary()?;
            self.expect("]")?;
            node = Node::Index(Box::new(node), Box::new(index));
        }
        Ok(node)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let Some((col, token)) = self.tokens.get(self.at).cloned() else {
            return fail("unexpected end of the condition");
        };
        self.at += 1;
        match token {
            Token::Num(v) => Ok(Node::Lit(v)),
            Token::Str(s) => Ok(Node::Lit(Value::Str(s))),
            Token::Punct("(") => {
                let inner = self.ternary()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Ident(name) => self.name(&name, col),
            Token::Punct(p) => fail(format!("unexpected {p:?} at column {col}")),
        }
    }

    fn name(&mut self, name: &str, col: usize) -> Result<Node, ExprError> {
        let func = match name {
            "result" => return Ok(Node::Result),
            "true" => return Ok(Node::Lit(Value::Bool(true))),
            "false" => return Ok(Node::Lit(Value::Bool(false))),
            "nil" => return Ok(Node::Lit(Value::Nil)),
            "len" => Func::Of(Unary::Len),
            "isNaN" => Func::Of(Unary::IsNaN),
            "isInf" => Func::Of(Unary::IsInf),
            "isNil" => Func::IsNil,
            "default" => Func::Default,
            "asInt" => Func::Of(Unary::AsInt),
            "asFloat" => Func::Of(Unary::AsFloat),
            other => return fail(format!("unknown name {other} (column {col})")),
        };
        self.expect("(")?;
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.ternary()?);
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        let wanted = if func == Func::Default { 2 } else { 1 };
        if args.len() != wanted {
            return fail(format!(
                "{name}() takes {wanted} argument(s), got {} (column {col})",
                args.len()
            ));
        }
        Ok(Node::Call(func, args))
    }
}
