//! Routing rules: the subset of CEL this runtime evaluates for `match`.
//!
//! daprd compiles each rule's `match` as a CEL program over the CloudEvent,
//! bound to `event`. A full CEL engine is out of scope for a development
//! runtime, so this module accepts the subset the project's subscriptions use
//! and **rejects everything else at load time**, the same way a rule that
//! fails to compile makes daprd drop the subscription:
//!
//! ```text
//! expr    := or
//! or      := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | "(" expr ")" | "true" | "false" | operand ("==" | "!=") operand
//! operand := event.<attr> | "string" | 'string'
//! attr    := id | source | type | specversion | datacontenttype | subject | topic | pubsubname | time
//! ```
//!
//! As in CEL, reading an attribute the event does not have is an evaluation
//! error (daprd then sends the event to the dead-letter topic, or retries).

use crate::cloudevent::CloudEvent;

const ATTRIBUTES: [&str; 9] =
    ["id", "source", "type", "specversion", "datacontenttype", "subject", "topic", "pubsubname", "time"];

/// A compiled `match` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Bool(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp { left: Operand, right: Operand, equal: bool },
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Attr(String),
    Str(String),
}

/// A rule: `None` matches everything (the `default` route).
#[derive(Debug, Clone)]
pub struct Rule {
    pub matches: Option<Expr>,
    pub path: String,
}

/// Compiles `(match, path)` rules plus `default` the way daprd does: the
/// default becomes a final catch-all rule, and no rules at all means one
/// catch-all with an empty path.
///
/// # Errors
/// A `match` outside the supported subset.
pub fn compile_rules(rules: &[(String, String)], default: &str) -> Result<Vec<Rule>, String> {
    let mut out = Vec::with_capacity(rules.len() + 1);
    for (matches, path) in rules {
        let trimmed = matches.trim();
        let matches = if trimmed.is_empty() { None } else { Some(parse(trimmed)?) };
        out.push(Rule { matches, path: path.clone() });
    }
    if !default.is_empty() {
        out.push(Rule { matches: None, path: default.to_owned() });
    }
    if out.is_empty() {
        out.push(Rule { matches: None, path: String::new() });
    }
    Ok(out)
}

/// The path of the first matching rule, `Ok(None)` when none matches.
///
/// # Errors
/// An attribute the event lacks (a CEL "no such key" error).
pub fn route<'r>(rules: &'r [Rule], ce: &CloudEvent) -> Result<Option<&'r str>, String> {
    for rule in rules {
        let hit = match &rule.matches {
            None => true,
            Some(expr) => eval(expr, ce)?,
        };
        if hit {
            return Ok(Some(&rule.path));
        }
    }
    Ok(None)
}

fn eval(expr: &Expr, ce: &CloudEvent) -> Result<bool, String> {
    Ok(match expr {
        Expr::Bool(b) => *b,
        Expr::Not(e) => !eval(e, ce)?,
        Expr::And(a, b) => eval(a, ce)? && eval(b, ce)?,
        Expr::Or(a, b) => eval(a, ce)? || eval(b, ce)?,
        Expr::Cmp { left, right, equal } => (value(left, ce)? == value(right, ce)?) == *equal,
    })
}

fn value(operand: &Operand, ce: &CloudEvent) -> Result<String, String> {
    match operand {
        Operand::Str(s) => Ok(s.clone()),
        Operand::Attr(name) => match ce.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => Ok(other.to_string()),
            None => Err(format!("no such key: {name}")),
        },
    }
}

/// Parses one expression of the subset.
///
/// # Errors
/// Anything outside the grammar above, with a short reason.
pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(format!("unsupported match expression {text:?}: unexpected {:?}", parser.tokens[parser.pos]));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Op(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string in {text:?}")),
                        Some('\\') => s.push(chars.next().ok_or("dangling escape")?),
                        Some(ch) if ch == c => break,
                        Some(ch) => s.push(ch),
                    }
                }
                tokens.push(Token::Str(s));
            }
            '(' | ')' => {
                chars.next();
                tokens.push(Token::Op(if c == '(' { "(" } else { ")" }));
            }
            '=' | '!' | '&' | '|' => {
                chars.next();
                let next = chars.peek().copied();
                let op = match (c, next) {
                    ('=', Some('=')) => "==",
                    ('!', Some('=')) => "!=",
                    ('&', Some('&')) => "&&",
                    ('|', Some('|')) => "||",
                    ('!', _) => "!",
                    _ => return Err(format!("unsupported operator in {text:?}")),
                };
                if op.len() == 2 {
                    chars.next();
                }
                tokens.push(Token::Op(op));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut ident = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' {
                        ident.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Ident(ident));
            }
            other => return Err(format!("unsupported character {other:?} in {text:?}")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            return if self.eat(")") { Ok(inner) } else { Err("missing ')'".into()) };
        }
        match self.peek() {
            Some(Token::Ident(word)) if word == "true" || word == "false" => {
                let value = word == "true";
                self.pos += 1;
                return Ok(Expr::Bool(value));
            }
            _ => {}
        }
        let left = self.operand()?;
        let equal = if self.eat("==") {
            true
        } else if self.eat("!=") {
            false
        } else {
            return Err("expected == or != (only comparisons of event attributes are supported)".into());
        };
        let right = self.operand()?;
        Ok(Expr::Cmp { left, right, equal })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let token = self.peek().cloned().ok_or("unexpected end of expression")?;
        self.pos += 1;
        match token {
            Token::Str(s) => Ok(Operand::Str(s)),
            Token::Ident(ident) => match ident.strip_prefix("event.") {
                Some(attr) if ATTRIBUTES.contains(&attr) => Ok(Operand::Attr(attr.to_owned())),
                _ => Err(format!("unsupported operand {ident:?}: use event.<{}>", ATTRIBUTES.join("|"))),
            },
            Token::Op(op) => Err(format!("unexpected {op:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ty: &str) -> CloudEvent {
        serde_json::from_str(&format!(r#"{{"type":"{ty}","source":"task","id":"1"}}"#)).unwrap()
    }

    #[test]
    fn first_matching_rule_wins_then_default() {
        let rules = compile_rules(
            &[
                (r#"event.type == "a" && event.source == 'task'"#.into(), "first".into()),
                (r#"(event.type != "b") || false"#.into(), "second".into()),
            ],
            "fallback",
        )
        .unwrap();
        assert_eq!(route(&rules, &event("a")).unwrap(), Some("first"));
        assert_eq!(route(&rules, &event("c")).unwrap(), Some("second"));
        assert_eq!(route(&rules, &event("b")).unwrap(), Some("fallback"));
    }

    #[test]
    fn no_rules_means_one_catch_all_and_no_match_means_drop() {
        let rules = compile_rules(&[], "").unwrap();
        assert_eq!(route(&rules, &event("x")).unwrap(), Some(""));
        let rules = compile_rules(&[(r#"event.type == "a""#.into(), "a".into())], "").unwrap();
        assert_eq!(route(&rules, &event("x")).unwrap(), None);
        assert!(
            route(&compile_rules(&[("event.subject == 'x'".into(), "p".into())], "").unwrap(), &event("x")).is_err()
        );
    }

    #[test]
    fn expressions_outside_the_subset_are_rejected() {
        for bad in ["has(event.data.vip)", "event.data.vip == true", "int(event.id) > 3", "event.type =="] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("true").unwrap(), Expr::Bool(true));
        assert!(parse("!(event.type == 'a')").is_ok());
    }
}
