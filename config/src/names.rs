//! DNS names as configured: the cluster domain and the DHCP domain-search list.

/// Checks a domain name (RFC 1035 §2.3.1 preferred syntax, as RFC 1123 relaxed
/// it: labels may start with a digit) and returns it lowercased without a
/// trailing dot. The error is the reason only.
pub(crate) fn domain(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err("the domain name is empty".into());
    }
    // 253 characters written out is 255 octets on the wire (length bytes + root).
    if name.len() > 253 {
        return Err(format!(
            "`{text}` is {} characters long; a domain name has at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        label_ok(label).map_err(|reason| format!("`{text}`: {reason}"))?;
    }
    Ok(name.to_ascii_lowercase())
}

fn label_ok(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label (two dots in a row?)".into());
    }
    if label.len() > 63 {
        return Err(format!(
            "label `{label}` is {} characters long; at most 63",
            label.len()
        ));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "label `{label}` contains {bad:?}; only letters, digits and hyphens are allowed"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label `{label}` starts or ends with a hyphen"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_valid_names() {
        assert_eq!(domain("lxd"), Ok("lxd".into()));
        assert_eq!(domain("Cloud.Example.ORG."), Ok("cloud.example.org".into()));
        assert_eq!(domain("3com.example"), Ok("3com.example".into()));
        assert_eq!(domain(&"a".repeat(63)), Ok("a".repeat(63)));
    }

    #[test]
    fn rejects_each_kind_of_bad_name() {
        let cases = [
            ("", "empty"),
            (".", "empty"),
            ("a..b", "empty label"),
            ("-lxd", "hyphen"),
            ("lxd-", "hyphen"),
            ("under_score", "contains '_'"),
            ("sp ace", "contains ' '"),
        ];
        for (name, reason) in cases {
            let error = domain(name).unwrap_err();
            assert!(error.contains(reason), "{name:?}: {error}");
        }
        assert!(domain(&"a".repeat(64)).unwrap_err().contains("at most 63"));
        let long = vec!["abcdefghi"; 26].join("."); // 259 characters
        assert!(domain(&long).unwrap_err().contains("at most 253"));
    }
}
