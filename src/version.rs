//! ROCm release versions, ordered numerically: `6.4.10` is newer than `6.4.4`.

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

/// A release version: dot-separated numbers, optionally followed by a suffix (`-rc1`).
#[derive(Debug, Clone, Eq)]
pub struct Version {
    text: String,
    release: Vec<u64>,
    suffix: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a version: expected numbers separated by dots, such as 6.4.4")]
pub struct VersionError(pub String);

impl Version {
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let bad = || VersionError(text.to_owned());
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (numbers, suffix) = text.split_at(end);
        let release = numbers
            .split('.')
            .map(|n| n.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        let suffix_ok = suffix.is_empty()
            || (suffix.len() > 1
                && matches!(suffix.as_bytes()[0], b'-' | b'+' | b'~' | b'_')
                && suffix[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
        if !suffix_ok {
            return Err(bad());
        }
        Ok(Self {
            text: text.to_owned(),
            release,
            suffix: suffix.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for Version {
    /// Numeric release order, missing components counting as 0; at equal releases a
    /// pre-release suffix sorts before the plain release; the text breaks remaining ties so
    /// that the order is total and consistent with equality.
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        let at = |v: &Version, i: usize| v.release.get(i).copied().unwrap_or(0);
        (0..len)
            .map(|i| at(self, i).cmp(&at(other, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| match (self.suffix.is_empty(), other.suffix.is_empty()) {
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => self.suffix.cmp(&other.suffix),
            })
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn numeric_order() {
        assert!(v("6.4.10") > v("6.4.4"));
        assert!(v("7.0") > v("6.99.99"));
        assert!(v("6.4.4") > v("6.4.4-rc1"));
        assert!(v("6.4") < v("6.4.0") || v("6.4") > v("6.4.0"));
        assert_ne!(v("6.4"), v("6.4.0"));
    }

    #[test]
    fn rejects_non_versions() {
        for bad in ["", "latest", "6..4", ".6", "6.4-", "v6.4", "6.4 rc"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn order_matches_numeric_tuples(a in proptest::collection::vec(0u64..200, 3), b in proptest::collection::vec(0u64..200, 3)) {
            let va = v(&format!("{}.{}.{}", a[0], a[1], a[2]));
            let vb = v(&format!("{}.{}.{}", b[0], b[1], b[2]));
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        }

        #[test]
        fn order_is_antisymmetric(a in "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-rc[0-9])?", b in "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-rc[0-9])?") {
            let (va, vb) = (v(&a), v(&b));
            prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
            prop_assert_eq!(va.cmp(&vb) == Ordering::Equal, va == vb);
        }
    }
}
