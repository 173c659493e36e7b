//! Reading typed values out of a spanned YAML tree while collecting every problem.
//!
//! Nothing here stops at the first error: each accessor reports what is wrong with a location
//! and returns `None`, and the caller carries on with the next field.

use std::path::{Path, PathBuf};

use super::yaml::{MapEntry, Node, Span, Value};
use crate::findings::{Code, Finding, Location};

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The keys of one mapping, after unknown and duplicate keys have been reported.
#[derive(Clone, Copy)]
pub struct Fields<'n> {
    pub node: &'n Node,
    entries: &'n [MapEntry],
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless it is absent. A present but empty value (`key:`) is returned.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|e| e.key.as_scalar() == Some(key))
            .map(|e| &e.value)
    }

    /// The value of `key`, treating `key:` / `key: null` as absent.
    pub fn get_set(&self, key: &str) -> Option<&'n Node> {
        self.get(key).filter(|n| !n.is_null())
    }

    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|e| e.key.as_scalar() == Some(key))
            .map(|e| e.key.span)
    }
}

pub struct Decoder {
    file: PathBuf,
    pub findings: Vec<Finding>,
}

impl Decoder {
    pub fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            findings: Vec::new(),
        }
    }

    pub fn location(&self, span: Span) -> Location {
        Location {
            file: self.file.clone(),
            line: span.line,
            column: span.column,
        }
    }

    pub fn problem(&mut self, code: Code, span: Span, message: impl Into<String>) {
        let finding = Finding::new(code, message).at(Some(self.location(span)));
        self.findings.push(finding);
    }

    /// Opens a mapping that may only hold `known` keys; reports unknown and repeated keys.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.problem(
                Code::ConfigType,
                node.span,
                format!("{what} must be a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        for (i, entry) in entries.iter().enumerate() {
            let Some(key) = entry.key.as_scalar() else {
                self.problem(
                    Code::ConfigType,
                    entry.key.span,
                    format!("keys of {what} must be plain names"),
                );
                continue;
            };
            if !known.contains(&key) {
                self.problem(
                    Code::ConfigUnknownKey,
                    entry.key.span,
                    format!(
                        "unknown key `{key}` in {what}; expected one of: {}",
                        known.join(", ")
                    ),
                );
            } else if entries[..i].iter().any(|e| e.key.as_scalar() == Some(key)) {
                self.problem(
                    Code::ConfigInvalid,
                    entry.key.span,
                    format!("`{key}` is given twice in {what}"),
                );
            }
        }
        Some(Fields { node, entries })
    }

    /// A key that must be present and set.
    pub fn required<'n>(&mut self, fields: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let node = fields.get_set(key);
        if node.is_none() {
            let span = fields.key_span(key).unwrap_or(fields.node.span);
            self.problem(
                Code::ConfigMissingKey,
                span,
                format!("{what} needs `{key}`"),
            );
        }
        node
    }

    /// A scalar as text (quoted or not). Lists and mappings are type errors.
    pub fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match node.as_scalar() {
            Some(text) if !node.is_null() => Some(Spanned::new(text.to_owned(), node.span)),
            _ => {
                self.problem(
                    Code::ConfigType,
                    node.span,
                    format!("{what} must be text, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// An optional scalar: absent, `null` and `""` all mean "not set".
    pub fn optional_text(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        what: &str,
    ) -> Option<Spanned<String>> {
        let node = fields.get_set(key)?;
        self.text(node, what).filter(|t| !t.value.is_empty())
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.problem(
                    Code::ConfigType,
                    node.span,
                    format!("{what} must be true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    pub fn unsigned(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.as_scalar().map(str::parse::<u32>) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.problem(
                    Code::ConfigType,
                    node.span,
                    format!(
                        "{what} must be a whole number of days, found {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.problem(
                    Code::ConfigType,
                    node.span,
                    format!("{what} must be a list, found {}", node.kind_name()),
                );
                None
            }
        }
    }
}

/// A short rendering of a scalar for messages; other kinds by their kind.
fn describe(node: &Node) -> String {
    match node.as_scalar() {
        Some(text) if !node.is_null() => format!("`{text}`"),
        _ => node.kind_name().to_owned(),
    }
}
