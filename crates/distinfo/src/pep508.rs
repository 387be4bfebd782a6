//! The part of PEP 508 that the native stack checks need, on `Requires-Dist` lines: a
//! requirement's name, extras, version specifiers (PEP 440, through `pep440_rs`) or URL, and its
//! environment marker, evaluated as `packaging` does. Hand-written because the full
//! `pep508_rs` brings a regex engine and a URL parser (most of the launcher's size) for
//! features these checks never use; the tests compare both on a corpus of lines.

use std::fmt;
use std::str::FromStr;

use pep440_rs::VersionSpecifier;
pub use pep440_rs::{Version, VersionSpecifiers};

/// One `Requires-Dist` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// As written (compare with [`crate::normalize`]).
    pub name: String,
    pub extras: Vec<String>,
    pub version: VersionOrUrl,
    pub marker: Option<Marker>,
}

/// What a requirement asks of the distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionOrUrl {
    /// Specifiers (empty: any version).
    Specifiers(VersionSpecifiers),
    /// `name @ url`: a particular file, which no installed version satisfies by number.
    Url(String),
}

/// An environment marker expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    And(Box<Marker>, Box<Marker>),
    Or(Box<Marker>, Box<Marker>),
    Compare { left: Value, op: Op, right: Value },
}

/// A marker operand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Variable(String),
    Literal(String),
}

/// A marker operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<=`, `<`, `!=`, `==`, `>=`, `>`, `~=`, `===`.
    Version(&'static str),
    In,
    NotIn,
}

/// The marker environment of the interpreter that will run the code.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub implementation_name: String,
    pub implementation_version: String,
    pub os_name: String,
    pub platform_machine: String,
    pub platform_python_implementation: String,
    pub platform_release: String,
    pub platform_system: String,
    pub platform_version: String,
    pub python_full_version: String,
    pub python_version: String,
    pub sys_platform: String,
}

/// Why a line is not a requirement, with the byte offset where reading stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.at + 1)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Requirement {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Requirement, ParseError> {
        let mut p = Parser { text: line, at: 0 };
        let requirement = p.requirement()?;
        p.skip_space();
        if p.at < line.len() {
            return Err(p.error("unexpected text after the requirement"));
        }
        Ok(requirement)
    }
}

impl Requirement {
    /// Whether the requirement applies in `env` (no marker: always), for the given extras.
    pub fn applies(&self, env: &Environment, extras: &[&str]) -> bool {
        self.marker.as_ref().is_none_or(|m| m.evaluate(env, extras))
    }
}

impl Marker {
    /// Evaluates as `packaging.markers` does: a version comparison when both sides read as
    /// PEP 440 (the right side with the operator as a specifier), else a string comparison.
    pub fn evaluate(&self, env: &Environment, extras: &[&str]) -> bool {
        match self {
            Marker::And(a, b) => a.evaluate(env, extras) && b.evaluate(env, extras),
            Marker::Or(a, b) => a.evaluate(env, extras) || b.evaluate(env, extras),
            Marker::Compare { left, op, right } if is_extra(left) || is_extra(right) => {
                let literal = if is_extra(left) { right } else { left };
                let wanted = crate::normalize(literal.resolve(env));
                let any = extras.iter().any(|e| crate::normalize(e) == wanted);
                match op {
                    Op::Version("==") => any,
                    Op::Version("!=") => !any,
                    _ => false,
                }
            }
            Marker::Compare { left, op, right } => compare(left.resolve(env), *op, right.resolve(env)),
        }
    }
}

fn is_extra(value: &Value) -> bool {
    matches!(value, Value::Variable(v) if v == "extra")
}

fn compare(left: &str, op: Op, right: &str) -> bool {
    match op {
        Op::In => right.contains(left),
        Op::NotIn => !right.contains(left),
        Op::Version(op) => {
            let spec = VersionSpecifier::from_str(&format!("{op}{right}"));
            if let (Ok(spec), Ok(version)) = (spec, Version::from_str(left)) {
                return spec.contains(&version);
            }
            match op {
                "==" | "===" => left == right,
                "!=" => left != right,
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                ">=" => left >= right,
                _ => false, // `~=` on strings: packaging raises; never satisfied here
            }
        }
    }
}

impl Value {
    fn resolve<'a>(&'a self, env: &'a Environment) -> &'a str {
        match self {
            Value::Literal(text) => text,
            Value::Variable(name) => match name.as_str() {
                "implementation_name" => &env.implementation_name,
                "implementation_version" => &env.implementation_version,
                "os_name" => &env.os_name,
                "platform_machine" => &env.platform_machine,
                "platform_python_implementation" => &env.platform_python_implementation,
                "platform_release" => &env.platform_release,
                "platform_system" => &env.platform_system,
                "platform_version" => &env.platform_version,
                "python_full_version" => &env.python_full_version,
                "python_version" => &env.python_version,
                "sys_platform" => &env.sys_platform,
                _ => "",
            },
        }
    }
}

const VARIABLES: &[&str] = &[
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
    "extra",
];

/// Operators, longest first so that `<=` is not read as `<`.
const OPERATORS: &[&str] = &["===", "<=", "!=", "==", ">=", "~=", "<", ">"];

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError { at: self.at, message: message.to_string() }
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let start = self.at;
        let len = self.rest().find(|c: char| !keep(c)).unwrap_or(self.rest().len());
        self.at += len;
        &self.text[start..self.at]
    }

    fn identifier(&mut self, what: &str) -> Result<String, ParseError> {
        self.skip_space();
        let word = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).to_string();
        let valid = word.starts_with(|c: char| c.is_ascii_alphanumeric())
            && word.ends_with(|c: char| c.is_ascii_alphanumeric());
        if valid { Ok(word) } else { Err(self.error(&format!("expected {what}"))) }
    }

    fn requirement(&mut self) -> Result<Requirement, ParseError> {
        let name = self.identifier("a distribution name")?;
        let mut extras = Vec::new();
        if self.eat("[") {
            while !self.eat("]") {
                extras.push(self.identifier("an extra name")?);
                if !self.eat(",") && !self.rest().trim_start().starts_with(']') {
                    return Err(self.error("expected `,` or `]` in the extras"));
                }
            }
        }
        let version = if self.eat("@") {
            self.skip_space();
            let url = self.take_while(|c| !c.is_whitespace()).to_string();
            if url.is_empty() {
                return Err(self.error("expected a URL after `@`"));
            }
            VersionOrUrl::Url(url)
        } else {
            VersionOrUrl::Specifiers(self.specifiers()?)
        };
        let marker = if self.eat(";") { Some(self.marker_or()?) } else { None };
        Ok(Requirement { name, extras, version, marker })
    }

    fn specifiers(&mut self) -> Result<VersionSpecifiers, ParseError> {
        let parenthesised = self.eat("(");
        let start = self.at;
        let text = self.take_while(|c| c != ';' && c != ')').trim().to_string();
        if parenthesised && !self.eat(")") {
            return Err(self.error("expected `)` after the version specifiers"));
        }
        VersionSpecifiers::from_str(&text)
            .map_err(|e| ParseError { at: start, message: format!("bad version specifiers `{text}`: {e}") })
    }

    fn marker_or(&mut self) -> Result<Marker, ParseError> {
        let mut marker = self.marker_and()?;
        while self.keyword("or") {
            marker = Marker::Or(Box::new(marker), Box::new(self.marker_and()?));
        }
        Ok(marker)
    }

    fn marker_and(&mut self) -> Result<Marker, ParseError> {
        let mut marker = self.marker_expr()?;
        while self.keyword("and") {
            marker = Marker::And(Box::new(marker), Box::new(self.marker_expr()?));
        }
        Ok(marker)
    }

    /// `word` as a whole word (followed by a space, a quote or a parenthesis).
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        let whole = rest.starts_with(word) && rest[word.len()..].starts_with([' ', '\t', '(', '\'', '"']);
        if whole {
            self.at += word.len();
        }
        whole
    }

    fn marker_expr(&mut self) -> Result<Marker, ParseError> {
        if self.eat("(") {
            let inner = self.marker_or()?;
            return if self.eat(")") { Ok(inner) } else { Err(self.error("expected `)` in the marker")) };
        }
        let left = self.value()?;
        let op = self.operator()?;
        let right = self.value()?;
        Ok(Marker::Compare { left, op, right })
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_space();
        if let Some(quote) = self.rest().chars().next().filter(|c| *c == '\'' || *c == '"') {
            self.at += 1;
            let literal = self.take_while(|c| c != quote).to_string();
            return if self.eat(&quote.to_string()) {
                Ok(Value::Literal(literal))
            } else {
                Err(self.error("unterminated string in the marker"))
            };
        }
        let start = self.at;
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_').to_string();
        match VARIABLES.contains(&name.as_str()) {
            true => Ok(Value::Variable(name)),
            false => Err(ParseError {
                at: start,
                message: format!("expected a marker variable or a quoted string, found `{name}`"),
            }),
        }
    }

    fn operator(&mut self) -> Result<Op, ParseError> {
        self.skip_space();
        if let Some(op) = OPERATORS.iter().find(|op| self.rest().starts_with(**op)) {
            self.at += op.len();
            return Ok(Op::Version(op));
        }
        if self.keyword("in") {
            return Ok(Op::In);
        }
        if self.keyword("not") && self.keyword("in") {
            return Ok(Op::NotIn);
        }
        Err(self.error("expected a marker operator"))
    }
}

#[cfg(test)]
#[path = "pep508_tests.rs"]
mod tests;
