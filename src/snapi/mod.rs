//! SNAPI, the extension interface: extensions register commands addressed as
//! `extension.command` that take a JSON object and return one.
//!
//! The same [`Snapi`] value serves in-process callers (the bootstraps), the CLI
//! (`rocforge-ci snapi call clamp.verify --payload '{…}'`) and other programs through
//! [`rpc::serve`] (JSON-RPC 2.0 over stdio).

pub mod rpc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

/// One command an extension offers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CommandSpec {
    pub name: &'static str,
    pub summary: &'static str,
}

/// What every extension implements.
pub trait Extension: Send + Sync {
    fn name(&self) -> &'static str;
    fn commands(&self) -> &'static [CommandSpec];
    /// Runs `command` (known to be one of [`Extension::commands`]) with a JSON object.
    fn call(&self, command: &str, payload: Value, session: &Session) -> Result<Value, SnapiError>;
}

#[derive(Debug, Error)]
pub enum SnapiError {
    #[error("`{0}` is not a command name; use extension.command, e.g. clamp.verify")]
    BadName(String),
    #[error("no extension `{0}` (see `rocforge-ci snapi list`)")]
    UnknownExtension(String),
    #[error("extension `{extension}` has no command `{command}`")]
    UnknownCommand { extension: String, command: String },
    #[error("invalid payload for {command}: {reason}")]
    InvalidPayload { command: String, reason: String },
    #[error("{command} failed: {message}")]
    Failed { command: String, message: String },
}

/// State shared by the calls of one session: the workspace root that relative paths are
/// read against, and the environment as restored so far (a restore followed by a verify in
/// one process sees what the restore applied, without mutating the process environment).
#[derive(Debug)]
pub struct Session {
    pub root: PathBuf,
    /// The clock of this session (captures record it).
    pub now: Timestamp,
    environment: Mutex<BTreeMap<String, String>>,
}

impl Session {
    pub fn new(root: impl Into<PathBuf>, now: Timestamp) -> Self {
        Self {
            root: root.into(),
            now,
            environment: Mutex::new(std::env::vars().collect()),
        }
    }

    /// A payload path: relative ones are below the workspace root.
    pub fn path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.environment
            .lock()
            .expect("environment lock")
            .get(name)
            .cloned()
    }

    pub fn set_var(&self, name: &str, value: &str) {
        self.environment
            .lock()
            .expect("environment lock")
            .insert(name.to_owned(), value.to_owned());
    }
}

pub struct Snapi {
    extensions: BTreeMap<&'static str, Box<dyn Extension>>,
    session: Session,
}

impl Snapi {
    /// An interface with no extensions.
    pub fn new(session: Session) -> Self {
        Self {
            extensions: BTreeMap::new(),
            session,
        }
    }

    /// The interface with the built-in extensions (`clamp`).
    pub fn with_builtins(session: Session) -> Self {
        let mut snapi = Self::new(session);
        snapi.register(Box::new(crate::clamp::ClampExtension));
        snapi
    }

    pub fn register(&mut self, extension: Box<dyn Extension>) {
        self.extensions.insert(extension.name(), extension);
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Every command as `extension.command` with its summary.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        self.extensions
            .values()
            .flat_map(|ext| {
                ext.commands()
                    .iter()
                    .map(move |c| (format!("{}.{}", ext.name(), c.name), c.summary))
            })
            .collect()
    }

    pub fn call(&self, name: &str, payload: Value) -> Result<Value, SnapiError> {
        let (extension, command) = name
            .split_once('.')
            .filter(|(e, c)| !e.is_empty() && !c.is_empty())
            .ok_or_else(|| SnapiError::BadName(name.to_owned()))?;
        let ext = self
            .extensions
            .get(extension)
            .ok_or_else(|| SnapiError::UnknownExtension(extension.to_owned()))?;
        if !ext.commands().iter().any(|c| c.name == command) {
            return Err(SnapiError::UnknownCommand {
                extension: extension.to_owned(),
                command: command.to_owned(),
            });
        }
        if !payload.is_object() {
            return Err(SnapiError::InvalidPayload {
                command: name.to_owned(),
                reason: "the payload must be a JSON object".to_owned(),
            });
        }
        ext.call(command, payload, &self.session)
    }
}

/// Reads a typed payload; unknown keys and wrong types are [`SnapiError::InvalidPayload`].
pub fn decode_payload<T: DeserializeOwned>(command: &str, payload: Value) -> Result<T, SnapiError> {
    serde_json::from_value(payload).map_err(|e| SnapiError::InvalidPayload {
        command: command.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo;

    impl Extension for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn commands(&self) -> &'static [CommandSpec] {
            &[CommandSpec {
                name: "say",
                summary: "returns its payload",
            }]
        }
        fn call(&self, _: &str, payload: Value, _: &Session) -> Result<Value, SnapiError> {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Say {
                text: String,
            }
            let say: Say = decode_payload("echo.say", payload)?;
            Ok(json!({"status": "pass", "text": say.text}))
        }
    }

    fn snapi() -> Snapi {
        let mut s = Snapi::new(Session::new(".", Timestamp::UNIX_EPOCH));
        s.register(Box::new(Echo));
        s
    }

    #[test]
    fn routes_and_types_errors() {
        let s = snapi();
        assert_eq!(
            s.call("echo.say", json!({"text": "hi"})).unwrap()["text"],
            "hi"
        );
        assert!(matches!(
            s.call("echo", json!({})),
            Err(SnapiError::BadName(_))
        ));
        assert!(matches!(
            s.call("nope.say", json!({})),
            Err(SnapiError::UnknownExtension(_))
        ));
        assert!(matches!(
            s.call("echo.shout", json!({})),
            Err(SnapiError::UnknownCommand { .. })
        ));
        assert!(matches!(
            s.call("echo.say", json!([1])),
            Err(SnapiError::InvalidPayload { .. })
        ));
        assert!(matches!(
            s.call("echo.say", json!({"txt": 1})),
            Err(SnapiError::InvalidPayload { .. })
        ));
        assert_eq!(
            s.list(),
            vec![("echo.say".to_owned(), "returns its payload")]
        );
    }

    #[test]
    fn session_environment_is_an_overlay() {
        let session = Session::new("/w", Timestamp::UNIX_EPOCH);
        session.set_var("ROCFORGE_TEST_ONLY", "1");
        assert_eq!(session.var("ROCFORGE_TEST_ONLY").as_deref(), Some("1"));
        assert!(std::env::var("ROCFORGE_TEST_ONLY").is_err());
        assert_eq!(session.path("build/x"), PathBuf::from("/w/build/x"));
        assert_eq!(session.path("/abs"), PathBuf::from("/abs"));
    }
}
