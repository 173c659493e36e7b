//! In-place edits of `ci/rocm_matrix.yml` that keep every byte the edit does not touch.
//!
//! Values are spliced at the byte spans of the parsed tree: a replaced scalar keeps its
//! quoting style, a new key goes on its own line at the entry's indentation, a new entry
//! copies the first entry's layout. The result is parsed and validated again before anyone
//! writes it; comments, order, blank lines, non-ASCII text, CRLF line ends and a missing
//! final newline survive.

use std::path::Path;

use thiserror::Error;

use super::yaml::{self, MapEntry, Node, Style, Value};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EditError {
    #[error("the matrix cannot be edited: {0}")]
    Unsupported(String),
    #[error("the matrix has no entry {0}")]
    NoEntry(String),
    #[error("the edited matrix does not validate ({0}); nothing was written")]
    Invalid(String),
    #[error("YAML syntax error at line {line}: {message}")]
    Syntax { line: usize, message: String },
}

struct Splice {
    at: usize,
    remove: usize,
    insert: String,
}

pub struct MatrixEdit {
    text: String,
    root: Node,
    splices: Vec<Splice>,
    newline: &'static str,
}

impl MatrixEdit {
    pub fn new(text: &str) -> Result<Self, EditError> {
        let root = yaml::parse(text)
            .map_err(|e| EditError::Syntax {
                line: e.line,
                message: e.message,
            })?
            .ok_or_else(|| EditError::Unsupported("the file is empty".into()))?;
        Ok(Self {
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
            text: text.to_owned(),
            root,
            splices: Vec::new(),
        })
    }

    fn images(&self) -> Result<&[Node], EditError> {
        let rocm = get(&self.root, "rocm")
            .ok_or_else(|| EditError::Unsupported("no `rocm:` mapping".into()))?;
        let images = get(rocm, "images")
            .ok_or_else(|| EditError::Unsupported("no `images:` list".into()))?;
        match &images.value {
            Value::Seq(items) if !items.is_empty() => Ok(items),
            _ => Err(EditError::Unsupported(
                "`images` must be a non-empty block list".into(),
            )),
        }
    }

    fn entry(&self, version: &str, os: &str) -> Result<&Node, EditError> {
        self.images()?
            .iter()
            .find(|n| {
                get(n, "version").and_then(Node::as_scalar) == Some(version)
                    && get(n, "os").and_then(Node::as_scalar) == Some(os)
            })
            .ok_or_else(|| EditError::NoEntry(format!("{version}/{os}")))
    }

    /// Sets `key: value` in the entry (version, os): replaced in place, or added as a line.
    pub fn set(
        &mut self,
        version: &str,
        os: &str,
        key: &str,
        value: &str,
    ) -> Result<(), EditError> {
        let entry = self.entry(version, os)?.clone();
        let Value::Map(fields) = &entry.value else {
            return Err(EditError::Unsupported(format!(
                "entry {version}/{os} is not a mapping"
            )));
        };
        if let Some(field) = fields.iter().find(|f| f.key.as_scalar() == Some(key)) {
            self.replace_value(field, value);
        } else {
            let at = line_end(&self.text, last_scalar_end(&entry));
            let indent = " ".repeat(entry.span.column - 1);
            let line = format!(
                "{}{indent}{key}: {}",
                self.newline,
                render(value, Style::Plain)
            );
            self.splices.push(Splice {
                at,
                remove: 0,
                insert: line,
            });
        }
        Ok(())
    }

    fn replace_value(&mut self, field: &MapEntry, value: &str) {
        let node = &field.value;
        let style = match &node.value {
            Value::Scalar { style, .. } => *style,
            _ => Style::DoubleQuoted,
        };
        if node.span.start == node.span.end {
            // `key:` with nothing after it: write the value right after the colon.
            let colon = self.text[field.key.span.end..]
                .find(':')
                .map_or(field.key.span.end, |i| field.key.span.end + i + 1);
            self.splices.push(Splice {
                at: colon,
                remove: 0,
                insert: format!(" {}", render(value, Style::Plain)),
            });
        } else {
            self.splices.push(Splice {
                at: node.span.start,
                remove: node.span.end - node.span.start,
                insert: render(value, style),
            });
        }
    }

    /// Appends an entry after the last one, laid out like the first one. `carry` names fields
    /// (such as `provenance`) copied, nested lines and all, from the newest entry with the same
    /// `os`, so that a new release keeps the signer its predecessor named.
    pub fn add_entry(&mut self, fields: &[(&str, &str)], carry: &[&str]) -> Result<(), EditError> {
        let carried = self.carried(fields, carry)?;
        let images = self.images()?;
        let first = &images[0];
        let last = images.last().expect("non-empty");
        let line_start = self.text[..first.span.start]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let first_prefix = self.text[line_start..first.span.start].to_owned();
        if !first_prefix.trim_start().starts_with('-') {
            return Err(EditError::Unsupported(
                "`images` entries must be block mappings (`- version: …`)".into(),
            ));
        }
        let style_of = |key: &str| match get(first, key).map(|n| &n.value) {
            Some(Value::Scalar { style, text }) if !text.is_empty() => *style,
            _ => Style::DoubleQuoted,
        };
        let continuation = " ".repeat(first_prefix.chars().count());
        let mut block = String::new();
        for (i, (key, value)) in fields.iter().enumerate() {
            let prefix = if i == 0 { &first_prefix } else { &continuation };
            let style = match *key {
                "version" | "digest" | "sha256" => style_of(key),
                _ => Style::Plain,
            };
            block.push_str(self.newline);
            block.push_str(&format!("{prefix}{key}: {}", render(value, style)));
        }
        for (indent, lines) in carried {
            for line in lines {
                block.push_str(self.newline);
                block.push_str(&continuation);
                block.push_str(line.strip_prefix(&indent).unwrap_or(&line));
            }
        }
        let at = line_end(&self.text, last_scalar_end(last));
        self.splices.push(Splice {
            at,
            remove: 0,
            insert: block,
        });
        Ok(())
    }

    /// The text of each `carry` field of the newest entry sharing `fields`' `os`: the field's
    /// own indentation and its lines (the first without that indentation).
    fn carried(
        &self,
        fields: &[(&str, &str)],
        carry: &[&str],
    ) -> Result<Vec<(String, Vec<String>)>, EditError> {
        let Some(os) = fields.iter().find(|(k, _)| *k == "os").map(|(_, v)| *v) else {
            return Ok(Vec::new());
        };
        let newest = self
            .images()?
            .iter()
            .filter(|n| get(n, "os").and_then(Node::as_scalar) == Some(os))
            .max_by_key(|n| {
                get(n, "version")
                    .and_then(Node::as_scalar)
                    .and_then(|v| crate::version::Version::parse(v).ok())
            });
        let Some(Node {
            value: Value::Map(entries),
            ..
        }) = newest
        else {
            return Ok(Vec::new());
        };
        Ok(entries
            .iter()
            .filter(|e| e.key.as_scalar().is_some_and(|k| carry.contains(&k)))
            .map(|e| {
                let end = line_end(&self.text, last_scalar_end(&e.value).max(e.key.span.end));
                let indent = " ".repeat(e.key.span.column - 1);
                let lines = self.text[e.key.span.start..end]
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_owned())
                    .collect();
                (indent, lines)
            })
            .collect())
    }

    /// The edited text, validated as a matrix (`path` names it in messages).
    pub fn finish(self, path: &Path) -> Result<String, EditError> {
        // Back to front, so earlier offsets stay valid; at one offset, later insertions are
        // applied first so that the text reads in the order the edits were made.
        let mut order: Vec<(usize, &Splice)> = self.splices.iter().enumerate().collect();
        order.sort_by_key(|(i, s)| std::cmp::Reverse((s.at, *i)));
        let mut text = self.text.clone();
        for (_, splice) in order {
            text.replace_range(splice.at..splice.at + splice.remove, &splice.insert);
        }
        let (matrix, findings) = super::matrix_from_text(path, &text);
        if matrix.is_none() {
            let first = findings
                .iter()
                .find(|f| f.severity >= crate::findings::Severity::Info)
                .map(|f| f.message.clone())
                .unwrap_or_default();
            return Err(EditError::Invalid(first));
        }
        Ok(text)
    }
}

/// Edits the workspace's matrix file under its lock and replaces it atomically; the edit is
/// validated before anything is written.
pub fn edit_matrix_file(
    workspace: &super::Workspace,
    change: impl FnOnce(&mut MatrixEdit) -> Result<(), EditError>,
) -> Result<(), EditFileError> {
    let path = workspace.path(&workspace.matrix);
    let _lock = crate::fsutil::FileLock::acquire(&path)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| crate::fsutil::FsError::new("reading", &path, e))?;
    let mut edit = MatrixEdit::new(&text)?;
    change(&mut edit)?;
    let edited = edit.finish(&workspace.matrix)?;
    crate::fsutil::write_atomic(&path, edited.as_bytes())?;
    Ok(())
}

#[derive(Debug, Error)]
pub enum EditFileError {
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|e| e.key.as_scalar() == Some(key))
            .map(|e| &e.value),
        _ => None,
    }
}

/// The end of the last scalar inside a node (collection ends point past trailing comments).
fn last_scalar_end(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => node.span.end,
        Value::Seq(items) => items
            .iter()
            .map(last_scalar_end)
            .max()
            .unwrap_or(node.span.start),
        Value::Map(entries) => entries
            .iter()
            .map(|e| last_scalar_end(&e.value).max(e.key.span.end))
            .max()
            .unwrap_or(node.span.start),
    }
}

/// The offset of the line break ending the line that holds `offset` (or the end of text).
fn line_end(text: &str, offset: usize) -> usize {
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    if end > 0 && text.as_bytes().get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    }
}

/// A scalar in the requested style; plain text that YAML would misread is double-quoted.
fn render(value: &str, style: Style) -> String {
    let plain_safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b':'))
        && !value.contains(": ")
        && !value.ends_with(':')
        && !matches!(
            value,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        );
    match style {
        Style::Plain if plain_safe => value.to_owned(),
        Style::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    const MATRIX: &str = "# Kommentar: ROCm-Bilder ✓\nrocm:\n  image: ghcr.io/rocm/dev   # upstream\n\n  images:\n    # the stable one\n    - version: \"6.4.4\"\n      os: ubuntu-22.04\n      digest: \"\"                     # not recorded yet\n      release_notes: https://example.com/notes\n\n    - version: '6.4.3'\n      os: ubuntu-22.04\n      digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n      added: 2025-01-01\n      provenance:\n        key: ci/k.pub\n# trailing comment, no final newline";

    #[test]
    fn replaces_values_and_keeps_everything_else() {
        let mut edit = MatrixEdit::new(MATRIX).unwrap();
        edit.set("6.4.4", "ubuntu-22.04", "digest", HEX_B).unwrap();
        edit.set("6.4.4", "ubuntu-22.04", "added", "2026-12-03")
            .unwrap();
        edit.set("6.4.3", "ubuntu-22.04", "digest", HEX_B).unwrap();
        edit.set("6.4.3", "ubuntu-22.04", "added", "2026-12-03")
            .unwrap();
        let out = edit.finish(Path::new("m.yml")).unwrap();
        let expected = MATRIX
            .replace("digest: \"\"                     # not recorded yet\n      release_notes: https://example.com/notes", &format!("digest: \"{HEX_B}\"                     # not recorded yet\n      release_notes: https://example.com/notes\n      added: 2026-12-03"))
            .replace(&format!("digest: {HEX_A}\n      added: 2025-01-01"), &format!("digest: {HEX_B}\n      added: 2026-12-03"));
        assert_eq!(out, expected);
    }

    #[test]
    fn a_new_entry_carries_the_signer_of_the_newest_entry_of_its_os() {
        let text = format!(
            "rocm:\r\n  image: ghcr.io/rocm/dev\r\n  images:\r\n  - version: '6.4.3'\r\n    os: ubuntu-22.04\r\n    digest: {HEX_A}\r\n    added: 2025-01-01\r\n    provenance:\r\n      key: ci/old.pub\r\n  - version: '6.4.4'\r\n    os: ubuntu-22.04\r\n    digest: {HEX_A}\r\n    added: 2025-02-01\r\n    provenance:   # the release workflow\r\n      identity: 'https://github\\.com/rocm/.+'\r\n      issuer: https://token.actions.githubusercontent.com\r\n"
        );
        let mut edit = MatrixEdit::new(&text).unwrap();
        edit.add_entry(
            &[
                ("version", "6.4.10"),
                ("os", "ubuntu-22.04"),
                ("digest", HEX_B),
                ("added", "2026-12-03"),
            ],
            &["provenance"],
        )
        .unwrap();
        let out = edit.finish(Path::new("m.yml")).unwrap();
        assert_eq!(
            out,
            format!(
                "{text}  - version: '6.4.10'\r\n    os: ubuntu-22.04\r\n    digest: {HEX_B}\r\n    added: 2026-12-03\r\n    provenance:   # the release workflow\r\n      identity: 'https://github\\.com/rocm/.+'\r\n      issuer: https://token.actions.githubusercontent.com\r\n"
            )
        );
    }

    #[test]
    fn appends_entries_in_the_style_of_the_first() {
        let mut edit = MatrixEdit::new(MATRIX).unwrap();
        edit.add_entry(
            &[
                ("version", "6.4.10"),
                ("os", "ubuntu-24.04"),
                ("digest", HEX_B),
                ("added", "2026-12-03"),
            ],
            &["provenance"],
        )
        .unwrap();
        let out = edit.finish(Path::new("m.yml")).unwrap();
        let added = format!(
            "\n    - version: \"6.4.10\"\n      os: ubuntu-24.04\n      digest: \"{HEX_B}\"\n      added: 2026-12-03"
        );
        assert_eq!(
            out,
            MATRIX.replace(
                "        key: ci/k.pub\n",
                &format!("        key: ci/k.pub{added}\n")
            )
        );
    }

    #[test]
    fn crlf_files_stay_crlf_and_invalid_results_are_refused() {
        let crlf = "rocm:\r\n  image: ghcr.io/rocm/dev\r\n  images:\r\n    - version: \"6.4.4\"\r\n      os: ubuntu-22.04\r\n";
        let mut edit = MatrixEdit::new(crlf).unwrap();
        edit.set("6.4.4", "ubuntu-22.04", "digest", HEX_A).unwrap();
        edit.set("6.4.4", "ubuntu-22.04", "added", "2026-12-03")
            .unwrap();
        let out = edit.finish(Path::new("m.yml")).unwrap();
        assert_eq!(
            out,
            format!(
                "rocm:\r\n  image: ghcr.io/rocm/dev\r\n  images:\r\n    - version: \"6.4.4\"\r\n      os: ubuntu-22.04\r\n      digest: {HEX_A}\r\n      added: 2026-12-03\r\n"
            )
        );
        // A digest without `added` does not validate: the edit is refused, not written.
        let mut edit = MatrixEdit::new(crlf).unwrap();
        edit.set("6.4.4", "ubuntu-22.04", "digest", HEX_A).unwrap();
        assert!(matches!(
            edit.finish(Path::new("m.yml")),
            Err(EditError::Invalid(_))
        ));
        let mut bad = MatrixEdit::new(crlf).unwrap();
        bad.set("6.4.4", "ubuntu-22.04", "digest", "not-a-digest")
            .unwrap();
        assert!(matches!(
            bad.finish(Path::new("m.yml")),
            Err(EditError::Invalid(_))
        ));
        assert!(matches!(
            MatrixEdit::new(crlf)
                .unwrap()
                .set("9", "x", "digest", HEX_A),
            Err(EditError::NoEntry(_))
        ));
    }

    proptest! {
        /// Whatever comments surround the entries, an edit changes only the edited value.
        #[test]
        fn untouched_bytes_survive(comment in "[ a-zA-Z0-9äöü✓#:,.-]{0,30}", blank in 0usize..3) {
            let gap = "\n".repeat(blank);
            let text = format!("rocm: # {comment}\n  image: ghcr.io/rocm/dev\n  images:{gap}\n    - version: \"6.4.4\" # {comment}\n      os: ubuntu-22.04\n      digest: \"{HEX_A}\"\n      added: 2025-01-01 # {comment}\n{gap}# {comment}\n");
            let mut edit = MatrixEdit::new(&text).unwrap();
            edit.set("6.4.4", "ubuntu-22.04", "digest", HEX_B).unwrap();
            let out = edit.finish(Path::new("m.yml")).unwrap();
            prop_assert_eq!(out, text.replace(HEX_A, HEX_B));
        }
    }
}
