//! Tag and repository templates: `{version}-{os}` for GHCR, `{version}` with an image of
//! `docker.io/rocm/dev-{os}` for Docker Hub.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Version,
    Os,
}

impl Placeholder {
    fn name(self) -> &'static str {
        match self {
            Placeholder::Version => "{version}",
            Placeholder::Os => "{os}",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Slot(Placeholder),
}

/// A string with `{version}` and `{os}` slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder `{0}`; only {{version}} and {{os}} exist")]
    Unknown(String),
    #[error("unclosed `{{` in `{0}`")]
    Unclosed(String),
    #[error("`{0}` must contain {1}")]
    Missing(String, &'static str),
    #[error("`{0}` may not contain {1}")]
    Forbidden(String, &'static str),
}

impl Template {
    /// Parses a template; `allowed` lists the slots it may use, `required` those it must.
    pub fn parse(
        text: &str,
        allowed: &[Placeholder],
        required: &[Placeholder],
    ) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| TemplateError::Unclosed(text.to_owned()))?;
            let slot = match &rest[open..open + close + 1] {
                "{version}" => Placeholder::Version,
                "{os}" => Placeholder::Os,
                other => return Err(TemplateError::Unknown(other.to_owned())),
            };
            if !allowed.contains(&slot) {
                return Err(TemplateError::Forbidden(text.to_owned(), slot.name()));
            }
            pieces.push(Piece::Slot(slot));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        for slot in required {
            if !pieces.contains(&Piece::Slot(*slot)) {
                return Err(TemplateError::Missing(text.to_owned(), slot.name()));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uses(&self, slot: Placeholder) -> bool {
        self.pieces.contains(&Piece::Slot(slot))
    }

    pub fn render(&self, version: &str, os: &str) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(s) => s.as_str(),
                Piece::Slot(Placeholder::Version) => version,
                Piece::Slot(Placeholder::Os) => os,
            })
            .collect()
    }

    /// The version a tag carries for `os`, if the tag fits this template: `6.4.4-ubuntu-22.04`
    /// gives `6.4.4` for `ubuntu-22.04` and nothing for `ubuntu-24.04`.
    pub fn match_version<'t>(&self, tag: &'t str, os: &str) -> Option<&'t str> {
        fn fixed<'a>(piece: &'a Piece, os: &'a str) -> Option<&'a str> {
            match piece {
                Piece::Literal(s) => Some(s.as_str()),
                Piece::Slot(Placeholder::Os) => Some(os),
                Piece::Slot(Placeholder::Version) => None,
            }
        }
        let at = self.pieces.iter().position(|p| fixed(p, os).is_none())?;
        let prefix: String = self.pieces[..at]
            .iter()
            .filter_map(|p| fixed(p, os))
            .collect();
        let suffix: String = self.pieces[at + 1..]
            .iter()
            .filter_map(|p| fixed(p, os))
            .collect();
        if self.pieces[at + 1..].iter().any(|p| fixed(p, os).is_none()) {
            return None; // `{version}` twice: ambiguous, never matched.
        }
        let version = tag
            .strip_prefix(prefix.as_str())?
            .strip_suffix(suffix.as_str())?;
        (!version.is_empty()).then_some(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Placeholder::*;

    #[test]
    fn renders_and_matches() {
        let t = Template::parse("{version}-{os}", &[Version, Os], &[Version]).unwrap();
        assert_eq!(t.render("6.4.4", "ubuntu-22.04"), "6.4.4-ubuntu-22.04");
        assert_eq!(
            t.match_version("6.4.4-ubuntu-22.04", "ubuntu-22.04"),
            Some("6.4.4")
        );
        assert_eq!(t.match_version("6.4.4-ubuntu-24.04", "ubuntu-22.04"), None);
        assert_eq!(t.match_version("-ubuntu-22.04", "ubuntu-22.04"), None);
        let hub = Template::parse("{version}", &[Version, Os], &[Version]).unwrap();
        assert_eq!(hub.match_version("6.4.4", "any"), Some("6.4.4"));
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(
            Template::parse("{ver}", &[Version, Os], &[Version]),
            Err(TemplateError::Unknown("{ver}".into()))
        );
        assert!(matches!(
            Template::parse("{os}", &[Version, Os], &[Version]),
            Err(TemplateError::Missing(..))
        ));
        assert!(matches!(
            Template::parse("x-{version", &[Version], &[]),
            Err(TemplateError::Unclosed(..))
        ));
        assert!(matches!(
            Template::parse("a/{version}", &[Os], &[]),
            Err(TemplateError::Forbidden(..))
        ));
    }
}
