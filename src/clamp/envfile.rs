//! `build/clamp/env.sh`: the captured environment as a shell script, and back.
//!
//! ```sh
//! export ROCM_PATH='/opt/rocm'
//! export PATH='/opt/rocm/bin'"${PATH:+:$PATH}"
//! ```
//!
//! Scalars are exported as captured; the ROCm entries of list variables are prepended.

use std::collections::BTreeMap;

pub type Scalars = BTreeMap<String, String>;
pub type Lists = BTreeMap<String, Vec<String>>;

pub fn render(target: &str, scalars: &Scalars, lists: &Lists) -> String {
    let mut out = format!(
        "# Written by rocforge-ci clamp capture: the ROCm environment of {target}.\n\
         # Source it (`. build/clamp/env.sh`) or let `rocforge-ci clamp restore` apply it.\n"
    );
    for (name, value) in scalars {
        out.push_str(&format!("export {name}={}\n", quote(value)));
    }
    for (name, entries) in lists {
        out.push_str(&format!(
            "export {name}={}\"${{{name}:+:${name}}}\"\n",
            quote(&entries.join(":"))
        ));
    }
    out
}

/// Reads back what [`render`] wrote; other lines are errors naming the line number.
pub fn parse(text: &str) -> Result<(Scalars, Lists), String> {
    let mut scalars = Scalars::new();
    let mut lists = Lists::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: not an `export NAME='value'` line", i + 1);
        let rest = line.strip_prefix("export ").ok_or_else(bad)?;
        let (name, rest) = rest.split_once('=').ok_or_else(bad)?;
        let valid_name = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid_name {
            return Err(bad());
        }
        let (value, rest) = unquote(rest).ok_or_else(bad)?;
        if rest.is_empty() {
            scalars.insert(name.to_owned(), value);
        } else if rest == format!("\"${{{name}:+:${name}}}\"") {
            lists.insert(
                name.to_owned(),
                value.split(':').map(str::to_owned).collect(),
            );
        } else {
            return Err(bad());
        }
    }
    Ok((scalars, lists))
}

/// POSIX single quotes; a `'` becomes `'\''`.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The value of leading single-quoted text (with `'\''` escapes) and what follows it.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut rest = text.strip_prefix('\'')?;
    loop {
        let end = rest.find('\'')?;
        value.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix("\\''") {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Some((value, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_awkward_values() {
        let scalars: Scalars = [("ROCM_PATH".to_owned(), "/opt/ro'cm $x \"y\"".to_owned())].into();
        let lists: Lists = [(
            "PATH".to_owned(),
            vec!["/opt/rocm/bin".to_owned(), "/opt/rocm/llvm/bin".to_owned()],
        )]
        .into();
        let text = render("/opt/rocm", &scalars, &lists);
        assert_eq!(parse(&text).unwrap(), (scalars, lists));
        assert!(parse("rm -rf /\n").unwrap_err().contains("line 1"));
        assert!(parse("export X='a'; rm -rf /\n").is_err());
    }

    #[test]
    fn the_script_means_the_same_to_a_shell() {
        let scalars: Scalars = [("ROCM_PATH".to_owned(), "/opt/it's here".to_owned())].into();
        let lists: Lists = [("PATH".to_owned(), vec!["/opt/rocm/bin".to_owned()])].into();
        let text = render("/opt/rocm", &scalars, &lists);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{text}\nprintf '%s\\n%s' \"$ROCM_PATH\" \"$PATH\""))
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "/opt/it's here\n/opt/rocm/bin:/usr/bin:/bin"
        );
    }
}
