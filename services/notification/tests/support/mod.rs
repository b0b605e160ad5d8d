//! Real receivers on loopback for the notification tests: an HTTP/1.1
//! webhook receiver that verifies signatures, and the `aiosmtpd` SMTP
//! server (PyPI) run as a subprocess.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use shared::testing::wait_until as eventually;

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// The signature matched the secret over "{timestamp}.{body}".
    pub signature_valid: bool,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An HTTP/1.1 server that checks `X-Todo-Signature` with `secret` and
/// answers the scripted statuses in order (then 200).
pub struct WebhookReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/todo", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (r, s, secret) = (received.clone(), script.clone(), secret.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (r, s, secret) = (r.clone(), s.clone(), secret.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, &secret, &r, &s).await;
                });
            }
        });
        Self { url, received, script, task }
    }

    /// The next answers, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    secret: &str,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<u16>>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end..(head_end + length).min(buffer.len())].to_vec();
    let signature_valid = request_line.starts_with("POST /hooks/todo ") && verify(secret, &headers, &body);
    let status = script.lock().unwrap().pop_front().unwrap_or(200);
    received.lock().unwrap().push(Received { headers, body, signature_valid, status });
    let response = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// What a receiver does: recompute the HMAC over "{timestamp}.{body}",
/// compare in constant time, and reject a timestamp far from now.
pub fn verify(secret: &str, headers: &HashMap<String, String>, body: &[u8]) -> bool {
    let (Some(timestamp), Some(signature)) = (headers.get("x-todo-timestamp"), headers.get("x-todo-signature")) else {
        return false;
    };
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let Some(hex) = signature.strip_prefix("v1=") else { return false };
    let Some(given) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The PyPI `aiosmtpd` server, writing each message to a file.
pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    child: std::process::Child,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl SmtpServer {
    pub async fn start() -> Self {
        let python = repo_root().join(".tools/venv/bin/python");
        let installed = std::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            installed,
            "aiosmtpd is not installed at {}: run `scripts/install-tools.sh aiosmtpd` (make test does)",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("notification-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new(&python)
            .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support"))
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.FileSink"])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { port, dir, child };
        eventually(20, "aiosmtpd accepts connections", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        server
    }

    /// Every message received so far (raw RFC 5322 text with an
    /// `X-Envelope-To:` first line).
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names.into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
