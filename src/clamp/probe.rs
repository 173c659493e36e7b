//! What a ROCm installation says about itself: version sources, key libraries, GPU agents and
//! the environment variables that point at it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::manifest::{Agent, FileRecord, FileType, Library, VersionSource};
use crate::snapi::Session;

/// Libraries whose presence and content identify a ROCm stack.
pub const KEY_LIBRARIES: &[&str] = &[
    "libamdhip64",
    "libhsa-runtime64",
    "librocblas",
    "libhipblas",
    "libMIOpen",
    "librccl",
    "librocfft",
    "libhipfft",
    "librocsparse",
    "librocrand",
    "librocm_smi64",
    "libamd_comgr",
];

/// Scalar variables recorded and compared exactly.
pub const SCALAR_VARIABLES: &[&str] = &[
    "ROCM_PATH",
    "ROCM_HOME",
    "HIP_PATH",
    "HIP_PLATFORM",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
    "HSA_OVERRIDE_GFX_VERSION",
    "HCC_AMDGPU_TARGET",
    "PYTORCH_ROCM_ARCH",
];

/// List variables whose ROCm entries are recorded; each must still be present later.
pub const LIST_VARIABLES: &[&str] = &["PATH", "LD_LIBRARY_PATH"];

/// Every version source present below `root`.
pub fn version_sources(root: &Path) -> Vec<VersionSource> {
    let mut sources = Vec::new();
    if let Ok(entries) = fs::read_dir(root.join(".info")) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n == "version" || n.starts_with("version-"))
            .collect();
        names.sort();
        for name in names {
            if let Some(value) = first_line(&root.join(".info").join(&name)) {
                sources.push(VersionSource {
                    source: format!(".info/{name}"),
                    value,
                });
            }
        }
    }
    if let Ok(header) = fs::read_to_string(root.join("include/rocm-core/rocm_version.h"))
        && let Some(value) = header_version(&header)
    {
        sources.push(VersionSource {
            source: "include/rocm-core/rocm_version.h".to_owned(),
            value,
        });
    }
    let hipconfig = root.join("bin/hipconfig");
    if hipconfig.is_file()
        && let Some(out) = run_tool(&hipconfig, &["--version"])
        && let Some(value) = out.lines().map(str::trim).find(|l| !l.is_empty())
    {
        sources.push(VersionSource {
            source: "bin/hipconfig --version".to_owned(),
            value: value.to_owned(),
        });
    }
    sources
}

/// The ROCm release the sources agree on: `.info/version` first, then the header.
pub fn rocm_version(sources: &[VersionSource]) -> Option<String> {
    let pick = |name: &str| {
        sources
            .iter()
            .find(|s| s.source == name)
            .map(|s| release_part(&s.value))
    };
    pick(".info/version").or_else(|| pick("include/rocm-core/rocm_version.h"))
}

/// `6.4.4-129` → `6.4.4`.
fn release_part(value: &str) -> String {
    value
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or(value)
        .trim_end_matches('.')
        .to_owned()
}

fn header_version(header: &str) -> Option<String> {
    let define = |name: &str| {
        header.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next().map(str::to_owned))
                .flatten()
        })
    };
    Some(format!(
        "{}.{}.{}",
        define("ROCM_VERSION_MAJOR")?,
        define("ROCM_VERSION_MINOR")?,
        define("ROCM_VERSION_PATCH")?
    ))
}

fn first_line(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// The key libraries among the scanned files: the unversioned name (or the first versioned
/// one), where its symlink chain ends inside the tree, and that file's hash.
pub fn libraries(files: &[FileRecord]) -> Vec<Library> {
    let by_path: BTreeMap<&str, &FileRecord> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut found = Vec::new();
    for name in KEY_LIBRARIES {
        let candidates = files.iter().filter(|f| {
            let file_name = f.path.rsplit('/').next().unwrap_or(&f.path);
            (f.path.starts_with("lib/") || f.path.starts_with("lib64/"))
                && f.path.matches('/').count() == 1
                && file_name.starts_with(&format!("{name}.so"))
        });
        let mut candidates: Vec<&FileRecord> = candidates.collect();
        candidates.sort_by_key(|f| (f.path.len(), f.path.clone()));
        let Some(first) = candidates.first() else {
            continue;
        };
        let resolved = resolve_in_tree(&by_path, first);
        found.push(Library {
            name: (*name).to_owned(),
            path: first.path.clone(),
            resolved: resolved.map_or_else(|| first.path.clone(), |r| r.path.clone()),
            sha256: resolved.and_then(|r| r.sha256.clone()),
        });
    }
    found
}

/// Follows relative symlinks within the scanned tree.
fn resolve_in_tree<'a>(
    by_path: &BTreeMap<&str, &'a FileRecord>,
    start: &'a FileRecord,
) -> Option<&'a FileRecord> {
    let mut current = start;
    for _ in 0..16 {
        match current.kind {
            FileType::Symlink => {
                let target = current.target.as_deref()?;
                if target.starts_with('/') {
                    return None;
                }
                let dir = current.path.rsplit_once('/').map_or("", |(d, _)| d);
                let joined = if dir.is_empty() {
                    target.to_owned()
                } else {
                    format!("{dir}/{target}")
                };
                current = by_path.get(joined.as_str())?;
            }
            _ => return Some(current),
        }
    }
    None
}

/// GPU agents from `rocminfo` (the tree's own, else on PATH); `None` when it cannot run.
pub fn agents(root: &Path, session: &Session) -> Option<(Vec<Agent>, String)> {
    let own = root.join("bin/rocminfo");
    let tool = if own.is_file() {
        own
    } else {
        which("rocminfo", session)?
    };
    let output = run_tool(&tool, &[])?;
    Some((parse_rocminfo(&output), "rocminfo".to_owned()))
}

/// The `Name:`, `Marketing Name:` and `Device Type:` of each agent block.
pub fn parse_rocminfo(text: &str) -> Vec<Agent> {
    let mut agents = Vec::new();
    let mut current: Option<Agent> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Agent ") && line[6..].trim().chars().all(|c| c.is_ascii_digit()) {
            agents.extend(current.take());
            current = Some(Agent {
                name: String::new(),
                marketing_name: None,
                device_type: None,
            });
            continue;
        }
        let Some(agent) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim() {
            "Name" if agent.name.is_empty() => agent.name = value,
            "Marketing Name" if agent.marketing_name.is_none() => {
                agent.marketing_name = Some(value)
            }
            "Device Type" if agent.device_type.is_none() => agent.device_type = Some(value),
            _ => {}
        }
    }
    agents.extend(current);
    agents.retain(|a| !a.name.is_empty());
    agents
}

/// The scalar variables that are set, and the ROCm entries of list variables (those below
/// the target path or its resolved root). Nothing is invented: unset variables stay unset.
pub fn environment(
    session: &Session,
    target: &str,
    root: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let scalars: BTreeMap<String, String> = SCALAR_VARIABLES
        .iter()
        .filter_map(|name| session.var(name).map(|v| ((*name).to_owned(), v)))
        .collect();
    let below = |entry: &str| {
        [target, root].iter().any(|base| {
            entry == *base || entry.starts_with(&format!("{}/", base.trim_end_matches('/')))
        })
    };
    let lists = LIST_VARIABLES
        .iter()
        .filter_map(|name| {
            let value = session.var(name)?;
            let entries: Vec<String> = value
                .split(':')
                .filter(|e| below(e))
                .map(str::to_owned)
                .collect();
            (!entries.is_empty()).then(|| ((*name).to_owned(), entries))
        })
        .collect();
    (scalars, lists)
}

fn which(name: &str, session: &Session) -> Option<std::path::PathBuf> {
    session
        .var("PATH")?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Runs a probe tool with a deadline; its stdout when it succeeds.
fn run_tool(tool: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).ok().map(|_| text)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match child.try_wait().ok()? {
            Some(status) if status.success() => return reader.join().ok().flatten(),
            Some(_) => return None,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rocminfo_agents() {
        let text = "ROCk module is loaded\n*******\nAgent 1\n*******\n  Name:                    AMD EPYC 7763\n  Marketing Name:          AMD EPYC 7763\n  Device Type:             CPU\n*******\nAgent 2\n*******\n  Name:                    gfx90a\n  Marketing Name:          AMD Instinct MI210\n  Device Type:             GPU\n  ISA Info:\n    ISA 1\n      Name:                    amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-\n";
        let agents = parse_rocminfo(text);
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[1].name, "gfx90a");
        assert_eq!(
            agents[1].marketing_name.as_deref(),
            Some("AMD Instinct MI210")
        );
        assert_eq!(agents[1].device_type.as_deref(), Some("GPU"));
    }

    #[test]
    fn header_and_release_versions() {
        let h = "#define ROCM_VERSION_MAJOR 6\n#define ROCM_VERSION_MINOR 4\n#define ROCM_VERSION_PATCH 4\n";
        assert_eq!(header_version(h).as_deref(), Some("6.4.4"));
        assert_eq!(release_part("6.4.4-129"), "6.4.4");
        let sources = vec![VersionSource {
            source: ".info/version".into(),
            value: "6.4.4-129".into(),
        }];
        assert_eq!(rocm_version(&sources).as_deref(), Some("6.4.4"));
    }
}
