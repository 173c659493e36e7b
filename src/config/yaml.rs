//! A spanned YAML document tree built from the parser's event stream.
//!
//! Every node keeps its byte range and its line and column, so that validation can point at
//! `file:line:column` for each problem and edits can splice new text in place without touching
//! any other byte of the file. Scalars are kept as text: YAML 1.2 has no date type, and a
//! version such as `6.10` must never become the float `6.1`.

use std::borrow::Cow;

use granit_parser::{Event, Parser, ScalarStyle};
use thiserror::Error;

/// A position and byte range in the source. Lines and columns are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { text: String, style: Style },
    Seq(Vec<Node>),
    Map(Vec<MapEntry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapEntry {
    pub key: Node,
    pub value: Node,
}

impl Node {
    /// A plain `null`, `~` or nothing at all (`key:`).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, style: Style::Plain }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Parses one YAML document. An empty document gives `None`.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| SyntaxError {
            message: e.kind().to_string(),
            line: e.marker().line(),
            column: e.marker().col() + 1,
        })?;
        let here = Span {
            start: span.start.byte_offset().unwrap_or(0),
            end: span.end.byte_offset().unwrap_or(0),
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        builder.event(event, here)?;
    }
    Ok(builder.finish())
}

/// An open collection: its children so far, and for mappings a key waiting for its value.
struct Frame {
    value: Value,
    span: Span,
    pending_key: Option<Node>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        message: "only one YAML document is allowed; remove the second `---`"
                            .into(),
                        line: span.line,
                        column: span.column,
                    });
                }
            }
            Event::Scalar(text, style, ..) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    _ => Style::Block,
                };
                let text = match text {
                    Cow::Borrowed(s) => s.to_owned(),
                    Cow::Owned(s) => s,
                };
                self.add(Node {
                    value: Value::Scalar { text, style },
                    span,
                });
            }
            Event::SequenceStart(..) => self.open(Value::Seq(Vec::new()), span),
            Event::MappingStart(..) => self.open(Value::Map(Vec::new()), span),
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("the parser balances collections");
                let mut whole = frame.span;
                whole.end = span.start.max(whole.start);
                self.add(Node {
                    value: frame.value,
                    span: whole,
                });
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                return Err(SyntaxError {
                    message: "aliases (`*name`) are not supported in rocforge-ci files; \
                              write the value out"
                        .into(),
                    line: span.line,
                    column: span.column,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, value: Value, span: Span) {
        self.stack.push(Frame {
            value,
            span,
            pending_key: None,
        });
    }

    fn add(&mut self, node: Node) {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut frame.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match frame.pending_key.take() {
                Some(key) => entries.push(MapEntry { key, value: node }),
                None => frame.pending_key = Some(node),
            },
            Value::Scalar { .. } => unreachable!("scalars have no children"),
        }
    }

    fn finish(self) -> Option<Node> {
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[MapEntry] {
        match &node.value {
            Value::Map(e) => e,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keeps_text_spans_and_positions() {
        let src = "# c\nrocm:\n  version: \"6.10\"\n  n: 6.10\n  list: [a, b]\n  empty:\n";
        let root = parse(src).unwrap().unwrap();
        let rocm = &map(&root)[0];
        assert_eq!(rocm.key.as_scalar(), Some("rocm"));
        let inner = map(&rocm.value);
        let version = &inner[0].value;
        assert_eq!(version.as_scalar(), Some("6.10"));
        assert_eq!(&src[version.span.start..version.span.end], "\"6.10\"");
        assert_eq!((version.span.line, version.span.column), (3, 12));
        assert_eq!(inner[1].value.as_scalar(), Some("6.10"));
        assert!(matches!(&inner[2].value.value, Value::Seq(v) if v.len() == 2));
        assert!(inner[3].value.is_null());
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1 && err.column >= 1, "{err:?}");
        let err = parse("a: 1\n b: 2\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn empty_documents_and_aliases() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
        let err = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(err.message.contains("aliases"), "{err}");
        assert_eq!(err.line, 2);
    }
}
