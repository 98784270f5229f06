//! TSIG keys (`[[dns.tsig_keys]]`): the algorithm names, and reading a secret
//! from a file only its owner can read, never printed.

use std::path::Path;

use crate::model::TsigAlgorithm;

/// `hmac-sha256` or `hmac-sha512`, as BIND and `dig -y` write them.
pub(crate) fn algorithm(text: &str) -> Result<TsigAlgorithm, String> {
    match text.to_ascii_lowercase().trim_end_matches('.') {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        other => Err(format!(
            "unsupported algorithm {other:?}; use \"hmac-sha256\" or \"hmac-sha512\""
        )),
    }
}

/// Reads and checks a secret file: one base64 string (what `tsig-keygen`
/// prints as `secret`), mode 600 or stricter.
pub(crate) fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => format!("secret file {shown} does not exist"),
        _ => format!("cannot read secret file {shown}: {error}"),
    })?;
    if !metadata.is_file() {
        return Err(format!("secret file {shown} is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "secret file {shown} is readable or writable by group or others (mode {:03o}); run: chmod 600 {shown}",
                mode & 0o777
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read secret file {shown}: {error}"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("secret file {shown} is empty"));
    }
    let secret = data_encoding::BASE64.decode(text.as_bytes()).map_err(|_| {
        format!("secret file {shown} is not one base64 string (e.g. from tsig-keygen)")
    })?;
    // RFC 8945 §6: a key shorter than the hash's output weakens the MAC.
    if secret.len() < 16 {
        return Err(format!(
            "secret file {shown}: the secret is {} bytes; use at least 16 (tsig-keygen makes 32)",
            secret.len()
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";

    fn secret_file(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn reads_a_private_base64_secret() {
        let file = secret_file(&format!("{SECRET}\n"), 0o600);
        assert_eq!(
            read_secret(file.path()).unwrap(),
            b"secret-secret-secret-secret!"
        );
        let file = secret_file(SECRET, 0o400);
        assert!(read_secret(file.path()).is_ok());
    }

    #[test]
    fn refuses_shared_missing_short_and_garbled_secrets() {
        let shared = read_secret(secret_file(SECRET, 0o640).path()).unwrap_err();
        assert!(
            shared.contains("mode 640") && shared.contains("chmod 600"),
            "{shared}"
        );
        assert!(read_secret(secret_file(SECRET, 0o604).path()).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_secret(&dir.path().join("nope"))
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            read_secret(secret_file("\n", 0o600).path())
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            read_secret(secret_file("not base64!", 0o600).path())
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            read_secret(secret_file("c2hvcnQ=", 0o600).path())
                .unwrap_err()
                .contains("at least 16")
        );
    }

    #[test]
    fn knows_the_two_algorithms() {
        assert_eq!(algorithm("hmac-sha256"), Ok(TsigAlgorithm::HmacSha256));
        assert_eq!(algorithm("HMAC-SHA512."), Ok(TsigAlgorithm::HmacSha512));
        assert!(algorithm("hmac-md5").unwrap_err().contains("hmac-sha256"));
    }
}
