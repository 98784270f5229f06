//! The shared cluster token: read from a file only its owner can read, never printed.

use std::fmt;
use std::path::Path;

use subtle::ConstantTimeEq;

/// The secret every node presents on Raft RPCs and admin writes.
///
/// `Debug` and `Display` print `<redacted>`; use [`ClusterToken::expose`] only
/// to put it on the wire, and [`ClusterToken::matches`] to check one received.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterToken(String);

impl ClusterToken {
    /// Validates a token's text (already trimmed of surrounding whitespace).
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.is_empty() {
            return Err("the token is empty".into());
        }
        // It travels in an HTTP header, where only visible ASCII is safe.
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the token must be printable ASCII without spaces (it is sent in an HTTP header)"
                    .into(),
            );
        }
        Ok(ClusterToken(secret.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in constant time (for tokens of equal length), so response
    /// timing does not reveal how many leading bytes a guess got right.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterToken(<redacted>)")
    }
}

impl fmt::Display for ClusterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The admin API's credential (`node.admin_token_file`): its own secret, so
/// that the dashboard and remote `dnsctl` never hold the cluster token, and
/// the cluster token never opens the admin API.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(ClusterToken);

impl AdminToken {
    pub fn new(secret: &str) -> Result<Self, String> {
        ClusterToken::new(secret).map(AdminToken)
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Constant-time, as [`ClusterToken::matches`].
    pub fn matches(&self, presented: &str) -> bool {
        self.0.matches(presented)
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Reads and checks a token file; the error is the reason only.
pub(crate) fn read(path: &Path) -> Result<ClusterToken, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => format!("token file {shown} does not exist"),
        _ => format!("cannot read token file {shown}: {error}"),
    })?;
    if !metadata.is_file() {
        return Err(format!("token file {shown} is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "token file {shown} is readable or writable by group or others (mode {:03o}); run: chmod 600 {shown}",
                mode & 0o777
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read token file {shown}: {error}"))?;
    ClusterToken::new(text.trim()).map_err(|reason| format!("token file {shown}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn token_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn reads_and_trims_a_private_token() {
        let file = token_file("  s3cret-token\n", 0o600);
        let token = read(file.path()).unwrap();
        assert_eq!(token.expose(), "s3cret-token");
        assert!(token.matches("s3cret-token"));
        assert!(!token.matches("s3cret-tokem"));
        assert!(!token.matches("s3cret"));
    }

    #[test]
    fn never_prints_the_secret() {
        let token = ClusterToken::new("s3cret-token").unwrap();
        assert!(!format!("{token:?} {token}").contains("s3cret"));
    }

    #[test]
    fn refuses_missing_empty_shared_and_odd_tokens() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read(&dir.path().join("nope"))
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(read(dir.path()).unwrap_err().contains("not a regular file"));
        assert!(
            read(token_file(" \n\t\n", 0o600).path())
                .unwrap_err()
                .contains("empty")
        );
        let shared = token_file("s3cret", 0o640);
        let reason = read(shared.path()).unwrap_err();
        assert!(reason.contains("mode 640"), "{reason}");
        assert!(
            reason.contains(&format!("chmod 600 {}", shared.path().display())),
            "{reason}"
        );
        assert!(
            read(token_file("s3cret", 0o604).path())
                .unwrap_err()
                .contains("chmod 600")
        );
        assert!(
            read(token_file("two words", 0o600).path())
                .unwrap_err()
                .contains("printable ASCII")
        );
    }
}
