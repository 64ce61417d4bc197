//! Throwaway GPG keyrings for signing test releases (the `gpg` CLI in a temporary GNUPGHOME).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A key in a [`Keyring`].
#[derive(Clone, Debug)]
pub struct Key {
    /// 40 hex digits, upper case.
    pub fingerprint: String,
    /// The long key ID (the fingerprint's last 16 hex digits), as Terraform prints it.
    pub key_id: String,
    /// The ASCII-armored public key.
    pub armor: String,
}

/// A temporary GNUPGHOME; its gpg-agent is stopped on drop.
pub struct Keyring {
    home: tempfile::TempDir,
}

impl Keyring {
    pub fn new() -> Self {
        // Under /tmp: gpg-agent's socket path must stay short (sockaddr_un), whatever TMPDIR is.
        let home = tempfile::Builder::new().prefix("gnupg").tempdir_in("/tmp").expect("GNUPGHOME tempdir");
        Self { home }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home())
            .arg("--batch")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A new unprotected key of the given algorithm (`rsa2048`, `ed25519`, …) that can sign.
    pub fn generate(&self, algo: &str, name: &str) -> Key {
        let email = format!("{}@mlops.test", name.replace(' ', "-"));
        let uid = format!("{name} <{email}>");
        self.gpg(&["--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", &uid, algo, "sign", "never"]);
        let listing = self.gpg(&["--with-colons", "--fixed-list-mode", "--list-secret-keys", &format!("={uid}")]);
        let fingerprint = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|rest| rest.trim_matches(':').to_string()))
            .expect("fingerprint in gpg's listing");
        let armor = String::from_utf8(self.gpg(&["--armor", "--export", &fingerprint]).stdout).expect("armor is text");
        let key_id = fingerprint[fingerprint.len() - 16..].to_string();
        Key { fingerprint, key_id, armor }
    }

    /// A detached binary signature of `file` by exactly `key`.
    pub fn sign(&self, key: &Key, file: &Path) -> Vec<u8> {
        let file = file.to_str().expect("utf-8 path");
        self.gpg(&["--local-user", &format!("{}!", key.fingerprint), "--detach-sign", "--output", "-", file]).stdout
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // Only the agent of this GNUPGHOME (gpg started it for us).
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `gpg` on PATH, or `None` after a loud message outside CI (a failure under `CI=true`, like `common::env`).
pub fn available() -> Option<PathBuf> {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("gpg")).find(|p| p.is_file()));
    if found.is_none() {
        let msg =
            "\n\n*** SKIPPED: gpg is not installed. Run `make test` (scripts/testenv.sh up installs gnupg). ***\n";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
    }
    found
}
