//! The DHCP option area as bytes, and the DNS wire form of names.
//!
//! We scan and write options ourselves rather than through dhcproto's
//! `DhcpOptions`: its decoder stops at the first malformed option (dropping the
//! rest), cannot tell an option that runs past the packet from a missing End,
//! and its encoder writes an `Unknown(82)` twice and skips empty unknown options.
//! Owning these ~100 lines also gives exact sizes for option 57 budgeting.

/// Option code of the Pad option (RFC 2132 §3.1).
pub const PAD: u8 = 0;
/// Option code of the End option (RFC 2132 §3.2).
pub const END: u8 = 255;
/// Option overload (RFC 2132 §9.3): options continue in `file` and/or `sname`.
pub const OVERLOAD: u8 = 52;

/// An option's length ran past the end of its field: the packet is not a
/// well-formed DHCP message and is dropped whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// Options of one message, each code once, in order of first appearance, with
/// split instances concatenated (RFC 3396 §5: the receiver MUST concatenate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOptions {
    entries: Vec<(u8, Vec<u8>)>,
    /// Position of each code in `entries`, so that concatenation stays O(1).
    index: [Option<u16>; 256],
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions {
            entries: Vec::new(),
            index: [None; 256],
        }
    }
}

impl RawOptions {
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        let position = self.index[usize::from(code)]?;
        self.entries
            .get(usize::from(position))
            .map(|(_, data)| data.as_slice())
    }

    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.entries
            .iter()
            .map(|(code, data)| (*code, data.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn append(&mut self, code: u8, data: &[u8]) {
        match self.index[usize::from(code)] {
            Some(position) => {
                if let Some((_, existing)) = self.entries.get_mut(usize::from(position)) {
                    existing.extend_from_slice(data);
                }
            }
            None => {
                // At most 254 distinct codes exist, so the position fits in u16.
                self.index[usize::from(code)] = u16::try_from(self.entries.len()).ok();
                self.entries.push((code, data.to_vec()));
            }
        }
    }
}

/// Scans a message's options: the options field, then (if option 52 says so)
/// `file`, then `sname`, in the order RFC 2131 §4.1 prescribes.
pub fn scan(options: &[u8], file: &[u8], sname: &[u8]) -> Result<RawOptions, Overflow> {
    let mut raw = RawOptions::default();
    scan_field(options, &mut raw)?;
    // A malformed overload option is ignored (the decoder counts it), never guessed at.
    let overload = match raw.get(OVERLOAD) {
        Some([value @ 1..=3]) => *value,
        _ => 0,
    };
    if overload & 1 != 0 {
        scan_field(file, &mut raw)?;
    }
    if overload & 2 != 0 {
        scan_field(sname, &mut raw)?;
    }
    Ok(raw)
}

/// One field: stops at End; a field without End is accepted (common in the
/// wild) as long as every option fits inside it.
fn scan_field(field: &[u8], into: &mut RawOptions) -> Result<(), Overflow> {
    let mut at = 0;
    while let Some(&code) = field.get(at) {
        match code {
            PAD => at += 1,
            END => return Ok(()),
            _ => {
                let len = usize::from(*field.get(at + 1).ok_or(Overflow)?);
                let data = field.get(at + 2..at + 2 + len).ok_or(Overflow)?;
                into.append(code, data);
                at += 2 + len;
            }
        }
    }
    Ok(())
}

/// Bytes `write` produces for an option carrying `data_len` bytes: values over
/// 255 bytes are split into several instances (RFC 3396).
pub fn encoded_len(data_len: usize) -> usize {
    if data_len == 0 {
        2
    } else {
        data_len + 2 * data_len.div_ceil(255)
    }
}

/// Appends one option, split into 255-byte instances if needed (RFC 3396).
pub fn write(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    if data.is_empty() {
        out.extend_from_slice(&[code, 0]);
        return;
    }
    for chunk in data.chunks(255) {
        out.push(code);
        // chunks(255) guarantees the length fits in a byte.
        out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(chunk);
    }
}

/// A DNS name decoded from uncompressed wire labels (RFC 1035 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName {
    pub labels: Vec<String>,
    /// Ended with the root label: a fully qualified name. RFC 4702 §3.1 also
    /// allows a partial name, which simply stops without it.
    pub fully_qualified: bool,
}

/// Maximum length of a name in wire form (RFC 1035 §2.3.4).
const MAX_NAME_WIRE: usize = 255;
/// Maximum length of one label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// Decodes a name in DNS wire form. `None` on compression pointers, labels
/// longer than 63 bytes, non-UTF-8 labels, or bytes after the root label.
pub fn decode_name(bytes: &[u8]) -> Option<WireName> {
    if bytes.len() > MAX_NAME_WIRE {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 0;
    while let Some(&len) = bytes.get(at) {
        let len = usize::from(len);
        if len == 0 {
            // Only the root label may end the name.
            return (at + 1 == bytes.len()).then_some(WireName {
                labels,
                fully_qualified: true,
            });
        }
        if len > MAX_LABEL {
            return None;
        }
        let label = bytes.get(at + 1..at + 1 + len)?;
        labels.push(std::str::from_utf8(label).ok()?.to_string());
        at += 1 + len;
    }
    Some(WireName {
        labels,
        fully_qualified: false,
    })
}

/// Encodes labels as a fully qualified name in DNS wire form; `None` if a label
/// is empty or too long, or the name is too long.
pub fn encode_name<'a>(labels: impl IntoIterator<Item = &'a str>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for label in labels {
        if label.is_empty() || label.len() > MAX_LABEL {
            return None;
        }
        out.push(u8::try_from(label.len()).ok()?);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    (out.len() <= MAX_NAME_WIRE).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_concatenates_split_options_rfc3396() {
        let options = [12, 2, b'c', b'1', 3, 1, 9, 12, 1, b'x', END];
        let raw = scan(&options, &[], &[]).unwrap();
        assert_eq!(raw.get(12), Some(&b"c1x"[..]));
        assert_eq!(raw.get(3), Some(&[9][..]));
        assert_eq!(raw.len(), 2);
    }

    #[test]
    fn scan_skips_pad_and_stops_at_end() {
        let options = [PAD, PAD, 53, 1, 1, END, 12, 200];
        let raw = scan(&options, &[], &[]).unwrap();
        assert_eq!(raw.get(53), Some(&[1][..]));
        assert_eq!(raw.get(12), None);
    }

    #[test]
    fn scan_accepts_missing_end() {
        let raw = scan(&[53, 1, 3], &[], &[]).unwrap();
        assert_eq!(raw.get(53), Some(&[3][..]));
    }

    #[test]
    fn option_running_past_the_field_is_an_overflow() {
        assert_eq!(scan(&[53, 1, 1, 12, 5, b'a'], &[], &[]), Err(Overflow));
        assert_eq!(scan(&[53], &[], &[]), Err(Overflow));
    }

    #[test]
    fn overload_reads_file_then_sname_rfc2131_4_1() {
        let mut file = vec![12, 1, b'a', END];
        file.resize(128, 0);
        let mut sname = vec![12, 1, b'b', 15, 1, b'd', END];
        sname.resize(64, 0);
        let raw = scan(&[OVERLOAD, 1, 3, END], &file, &sname).unwrap();
        assert_eq!(raw.get(12), Some(&b"ab"[..]));
        assert_eq!(raw.get(15), Some(&b"d"[..]));
        // Without the overload option the fields are plain strings.
        let raw = scan(&[END], &file, &sname).unwrap();
        assert!(raw.is_empty());
    }

    #[test]
    fn overflow_inside_an_overloaded_field_is_an_overflow() {
        assert_eq!(scan(&[OVERLOAD, 1, 1], &[12, 9, b'a'], &[]), Err(Overflow));
    }

    #[test]
    fn long_values_are_split_and_sized_exactly() {
        for len in [0, 1, 254, 255, 256, 510, 511, 1000] {
            let data = vec![7u8; len];
            let mut out = Vec::new();
            write(&mut out, 43, &data);
            assert_eq!(out.len(), encoded_len(len), "len {len}");
            let raw = scan(&out, &[], &[]).unwrap();
            assert_eq!(raw.get(43), Some(&data[..]));
        }
    }

    #[test]
    fn names_round_trip_through_wire_form() {
        let wire = encode_name(["c1", "lxd"]).unwrap();
        assert_eq!(wire, b"\x02c1\x03lxd\x00");
        let name = decode_name(&wire).unwrap();
        assert_eq!(name.labels, ["c1", "lxd"]);
        assert!(name.fully_qualified);
    }

    #[test]
    fn partial_names_have_no_root_label() {
        let name = decode_name(b"\x02c1").unwrap();
        assert_eq!(name.labels, ["c1"]);
        assert!(!name.fully_qualified);
    }

    #[test]
    fn bad_wire_names_are_refused() {
        assert_eq!(decode_name(b"\xc0\x0c"), None, "compression pointer");
        assert_eq!(decode_name(b"\x05ab"), None, "label past the end");
        assert_eq!(decode_name(b"\x01a\x00\x01b"), None, "bytes after root");
        assert_eq!(decode_name(b"\x02\xff\xfe\x00"), None, "not UTF-8");
        assert_eq!(encode_name([""]), None);
        assert_eq!(encode_name([&*"a".repeat(64)]), None);
    }
}
