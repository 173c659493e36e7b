//! Real parts for the live tests: Debian's `docker-registry` on a free loopback port (plain,
//! htpasswd, token auth with a JWT issuer, TLS with a test CA), images built as OCI layouts
//! and pushed with `skopeo`, and a small HTTP server for what cannot run here (GitHub's API,
//! webhooks) and for misbehaving proxies.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: run scripts/test.sh, which installs the test dependencies"
    );
}

fn run(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Feeds `input` to a program and returns its stdout (for binary data).
pub fn pipe(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{program} {args:?} failed");
    output.stdout
}

/// Runs a command that must succeed; its stdout.
pub fn must(cmd: &mut Command) -> String {
    run(cmd)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    rocforge_ci::hashing::sha256_bytes(bytes)
}

// ---------------------------------------------------------------------------------------
// Certificates (openssl CLI)

pub struct Pki {
    pub dir: TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 signed by it, and an ES256 token-signing pair.
    pub fn new() -> Self {
        require("openssl");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // `words` are split on spaces; `subject` may contain spaces.
        let openssl = |words: &str, subject: Option<&str>| {
            let mut cmd = Command::new("openssl");
            cmd.args(words.split_whitespace()).current_dir(d);
            if let Some(subject) = subject {
                cmd.arg("-subj").arg(subject);
            }
            run(&mut cmd)
        };
        const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        openssl(
            &format!("req -x509 {EC} -keyout ca.key -out ca.pem -days 2"),
            Some("/CN=rocforge test CA"),
        );
        openssl(
            &format!("req {EC} -keyout server.key -out server.csr"),
            Some("/CN=127.0.0.1"),
        );
        fs::write(
            d.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext",
            None,
        );
        openssl(
            &format!("req -x509 {EC} -keyout issuer.key -out issuer.pem -days 2"),
            Some("/CN=rocforge test token issuer"),
        );
        openssl("pkcs8 -topk8 -nocrypt -in issuer.key -out issuer.pk8", None);
        // skopeo reads a CA from a directory as ca.crt.
        fs::create_dir_all(d.join("certs.d")).unwrap();
        fs::copy(d.join("ca.pem"), d.join("certs.d/ca.crt")).unwrap();
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

// ---------------------------------------------------------------------------------------
// The registry

pub enum Auth {
    Anonymous,
    Htpasswd {
        user: String,
        password: String,
    },
    /// Bearer tokens from `realm`, signed by the PKI's issuer key.
    Token {
        realm: String,
    },
}

pub struct Registry {
    child: Child,
    pub host: String,
    dir: TempDir,
    pub tls: bool,
}

impl Registry {
    pub fn anonymous() -> Self {
        Self::start(Auth::Anonymous, None)
    }

    pub fn start(auth: Auth, pki: Option<(&Pki, bool)>) -> Self {
        require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        let mut tls = false;
        if let Some((pki, true)) = pki {
            tls = true;
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                pki.path("server.pem").display(),
                pki.path("server.key").display()
            ));
        }
        match &auth {
            Auth::Anonymous => {}
            Auth::Htpasswd { user, password } => {
                require("htpasswd");
                let file = dir.path().join("htpasswd");
                run(Command::new("htpasswd")
                    .args(["-Bbc"])
                    .arg(&file)
                    .arg(user)
                    .arg(password));
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    file.display()
                ));
            }
            Auth::Token { realm } => {
                let (pki, _) = pki.expect("token auth needs the PKI");
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    pki.path("issuer.pem").display()
                ));
            }
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Self {
            child,
            host,
            dir,
            tls,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not start on {}:\n{}",
            self.host,
            fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    /// `skopeo copy oci:LAYOUT:NAME docker://HOST/DEST`, with `--all` for indexes.
    pub fn push(
        &self,
        layout: &Path,
        name: &str,
        dest: &str,
        creds: Option<(&str, &str)>,
        pki: Option<&Pki>,
    ) {
        require("skopeo");
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet"]);
        match pki {
            Some(pki) if self.tls => {
                cmd.arg("--dest-cert-dir").arg(pki.path("certs.d"));
            }
            _ => {
                cmd.arg("--dest-tls-verify=false");
            }
        }
        if let Some((user, password)) = creds {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        cmd.arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.host));
        run(&mut cmd);
    }

    /// What skopeo sees: the SHA-256 of the raw manifest, as the cross-check of our digests.
    pub fn skopeo_digest(&self, reference: &str) -> String {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{reference}", self.host));
        let raw = run(&mut cmd);
        format!("sha256:{}", sha256_hex(raw.as_bytes()))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Images

/// An OCI image layout with named images; layers are real gzip tarballs made by `tar`.
pub struct Layout {
    pub dir: TempDir,
    index: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Self {
            dir,
            index: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let hex = sha256_hex(bytes);
        fs::write(self.dir.path().join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    }

    fn layer(&self, content: &str) -> (String, usize, String) {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("file.txt"), content).unwrap();
        let tgz = src.path().join("layer.tar.gz");
        run(Command::new("tar")
            .arg("--sort=name")
            .arg("--mtime=@0")
            .arg("--owner=0")
            .arg("--group=0")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(src.path())
            .arg("file.txt"));
        let bytes = fs::read(&tgz).unwrap();
        let mut tar = Vec::new();
        flate_decode(&bytes, &mut tar);
        let (digest, size) = self.blob(&bytes);
        (digest, size, format!("sha256:{}", sha256_hex(&tar)))
    }

    /// One single-platform image manifest; returns (digest, size).
    pub fn image(&self, arch: &str, content: &str) -> (String, usize) {
        self.image_layers(arch, &[content])
    }

    /// A single-platform image with one layer per content; returns (digest, size).
    pub fn image_layers(&self, arch: &str, contents: &[&str]) -> (String, usize) {
        let layers: Vec<(String, usize, String)> = contents.iter().map(|c| self.layer(c)).collect();
        let diff_ids: Vec<&String> = layers.iter().map(|l| &l.2).collect();
        let config = serde_json::json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}});
        let (config_digest, config_size) = self.blob(config.to_string().as_bytes());
        let descriptors: Vec<serde_json::Value> = layers
            .iter()
            .map(|(digest, size, _)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}))
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": descriptors
        });
        self.blob(manifest.to_string().as_bytes())
    }

    /// Names a single image in index.json.
    pub fn name_image(&mut self, name: &str, arch: &str, content: &str) -> String {
        let (digest, size) = self.image(arch, content);
        self.index.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": name}
        }));
        self.write_index();
        digest
    }

    /// Names a multi-arch index (amd64 + arm64) in index.json; returns the index digest.
    pub fn name_index(&mut self, name: &str, content: &str) -> String {
        let big = format!("{content} {}", "payload ".repeat(200_000));
        let (amd, amd_size) = self.image_layers(
            "amd64",
            &[&format!("{content} amd64 base"), &format!("{big} amd64")],
        );
        let (arm, arm_size) = self.image_layers(
            "arm64",
            &[&format!("{content} arm64 base"), &format!("{big} arm64")],
        );
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": amd_size, "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": arm_size, "platform": {"architecture": "arm64", "os": "linux"}}
            ]
        });
        let (digest, size) = self.blob(index.to_string().as_bytes());
        self.index.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": name}
        }));
        self.write_index();
        digest
    }

    fn write_index(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.index});
        fs::write(self.dir.path().join("index.json"), index.to_string()).unwrap();
    }
}

fn flate_decode(gz: &[u8], out: &mut Vec<u8>) {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(gz).unwrap();
    child.stdout.take().unwrap().read_to_end(out).unwrap();
    assert!(child.wait().unwrap().success());
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 server for GitHub's API, webhooks, the token issuer and bad proxies

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Option<Response> + Send + Sync;

/// Serves `handler` on a loopback port; `None` from the handler means "never answer".
pub struct TestServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl TestServer {
    pub fn start(handler: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                let seen = seen.clone();
                std::thread::spawn(move || serve_one(stream, &*handler, &seen));
            }
        });
        Self { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    // A TLS ClientHello on this plain port: close, as a plain HTTP registry would refuse it.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body,
    };
    seen.lock().unwrap().push(request.clone());
    let Some(response) = handler(&request) else {
        std::thread::sleep(Duration::from_secs(60)); // a registry that hangs
        return;
    };
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", response.status);
    let has_length = response
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = out.write_all(&response.body);
    }
}

/// Forwards a request to a plain-HTTP registry and returns its response.
pub fn forward(registry: &str, request: &Request) -> Response {
    let mut stream = TcpStream::connect(registry).unwrap();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n",
        request.method, request.path
    );
    for (k, v) in &request.headers {
        if !matches!(k.as_str(), "host" | "connection") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&request.body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("transfer-encoding")
        })
        .collect();
    Response {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------------------------------
// The token issuer

/// Issues ES256 JWTs with an `x5c` header for registries configured with `Auth::Token`, for
/// one user: `GET` with Basic credentials (the docker token flow), or `POST` of the OAuth2
/// refresh-token grant whose refresh token is `refresh-<password>` (identity tokens). Counts
/// token requests.
pub fn token_issuer(pki: &Pki, user: &'static str, password: &'static str) -> TestServer {
    use p256::ecdsa::{Signature, SigningKey, signature::Signer};
    use p256::pkcs8::DecodePrivateKey;
    let key =
        SigningKey::from_pkcs8_pem(&fs::read_to_string(pki.path("issuer.pk8")).unwrap()).unwrap();
    let pem = fs::read_to_string(pki.path("issuer.pem")).unwrap();
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let b64url = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let refresh = format!("refresh-{password}");
    TestServer::start(move |request| {
        let form = if request.method == "POST" {
            String::from_utf8_lossy(&request.body).into_owned()
        } else {
            request
                .path
                .split_once('?')
                .map_or("", |(_, q)| q)
                .to_owned()
        };
        let field = |name: &str| {
            form.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .map(|v| {
                    v.replace("%3A", ":")
                        .replace("%2F", "/")
                        .replace("%2C", ",")
                        .replace('+', " ")
                })
        };
        let allowed = if request.method == "POST" {
            field("grant_type").as_deref() == Some("refresh_token")
                && field("refresh_token") == Some(refresh.clone())
                && field("client_id").is_some()
        } else {
            request.header("authorization") == Some(expected.as_str())
        };
        if !allowed {
            return Some(Response::new(401, r#"{"details":"bad credentials"}"#));
        }
        let scope = field("scope").unwrap_or_default();
        let access: Vec<serde_json::Value> = scope
            .split(' ')
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, _) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": kind, "name": name, "actions": ["pull", "push"]}))
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [der_b64]});
        let claims = serde_json::json!({"iss": "test-issuer", "sub": user, "aud": "test-registry", "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", rand_suffix()), "access": access});
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature: Signature = key.sign(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64url(&signature.to_bytes()));
        Some(
            Response::new(
                200,
                if request.method == "POST" {
                    serde_json::json!({"access_token": token, "expires_in": 300, "scope": scope})
                } else {
                    serde_json::json!({"token": token, "expires_in": 300})
                }
                .to_string(),
            )
            .header("Content-Type", "application/json"),
        )
    })
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

// ---------------------------------------------------------------------------------------
// Raw pushes (signature artefacts skopeo would rewrite)

fn http(host: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .chain(std::iter::once((
                "content-length".to_owned(),
                body.len().to_string(),
            )))
            .collect(),
        body: body.to_vec(),
    };
    forward(host, &request)
}

/// Uploads a blob to an anonymous plain-HTTP registry; returns its digest.
pub fn put_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    let started = http(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(
        started.status,
        202,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let location = started
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .unwrap()
        .1
        .clone();
    let path = location
        .split_once("://")
        .map_or(location.clone(), |(_, rest)| {
            rest[rest.find('/').unwrap()..].to_owned()
        });
    let sep = if path.contains('?') { '&' } else { '?' };
    let done = http(
        host,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[("content-type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    digest
}

/// Puts a manifest under a tag; returns its digest.
pub fn put_manifest(host: &str, repo: &str, tag: &str, media_type: &str, manifest: &str) -> String {
    let done = http(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("content-type", media_type)],
        manifest.as_bytes(),
    );
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    format!("sha256:{}", sha256_hex(manifest.as_bytes()))
}

/// Real keyless Sigstore artefacts for `digest` in an anonymous `registry`, made at test time
/// by `tests/fixtures/sigstore/sign.js` (@sigstore/mock's throw-away Fulcio CA, CT log and Rekor
/// key; bundles attached with @sigstore/oci). Writes the trust root naming that CA and those logs
/// to `trusted_root`; returns the legacy `.sig` / `.att` layers for the caller to push.
pub fn sigstore_sign(
    registry: &Registry,
    digest: &str,
    trusted_root: &Path,
    artefacts: serde_json::Value,
) -> Vec<serde_json::Value> {
    require("node");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigstore");
    assert!(
        fixtures.join("node_modules/@sigstore/mock").is_dir(),
        "the npm packages of {} are not installed: run scripts/test.sh, which installs them",
        fixtures.display()
    );
    fs::create_dir_all(trusted_root.parent().unwrap()).unwrap();
    let spec = serde_json::json!({
        "registry": registry.host,
        "repository": "rocm/dev",
        "digest": digest,
        "trustedRoot": trusted_root,
        "artefacts": artefacts,
    });
    let out = Command::new("node")
        .arg(fixtures.join("sign.js"))
        .arg(spec.to_string())
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "sign.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|made| made["kind"] != "bundle")
        .collect()
}
