//! A real SMTP server process for alert tests: Python's aiosmtpd writing every message it
//! accepts to a Maildir. `tests/run` installs aiosmtpd.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running aiosmtpd on 127.0.0.1; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    child: Child,
}

/// A free loopback port (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpServer {
    /// Starts a server on `port` (0: any free port) with a new Maildir.
    pub fn start(port: u16) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        Self::start_in(port, &maildir, Some(dir))
    }

    /// Starts a server on `port` delivering into `maildir` (kept by the caller).
    pub fn start_in(port: u16, maildir: &Path, keep: Option<tempfile::TempDir>) -> SmtpServer {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let port = if port == 0 { free_port() } else { port };
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 -m aiosmtpd starts (pip install aiosmtpd; tests/run does)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port} within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { port, maildir: maildir.to_path_buf(), _dir: keep, child }
    }

    /// Every message received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        read_maildir(&self.maildir)
    }

    /// Waits until at least `n` messages arrived, or panics after `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(Instant::now() < deadline, "{} of {n} emails arrived within {within:?}", m.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The messages in a Maildir, oldest first by file name.
pub fn read_maildir(maildir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .flat_map(|s| std::fs::read_dir(maildir.join(s)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

/// The decoded text of a message (quoted-printable soft breaks and `=XX` escapes undone).
pub fn decoded(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
