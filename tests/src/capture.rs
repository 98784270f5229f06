//! Packet captures of DHCP traffic inside a test's own namespace: `tcpdump`
//! writes a pcap file, and this module reads the DHCP messages back out of it
//! (Ethernet → IPv4 → UDP 67/68 → BOOTP header and options), so a test can
//! assert what went over the wire, message by message.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{CONTAINER_INTERFACE, Container, NsProcess, wait_until};

/// A running capture of UDP ports 67 and 68 on a container's `eth0`; the
/// tcpdump process is killed when the capture drops.
pub struct Capture {
    process: NsProcess,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump in `container` writing `dir/<name>.pcap`, and waits
    /// until it listens, so that nothing the client sends next is missed.
    pub fn start(container: &Container, dir: &Path, name: &str) -> io::Result<Capture> {
        let file = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.tcpdump.log"));
        let file_text = file
            .to_str()
            .ok_or_else(|| io::Error::other("non-UTF-8 capture path"))?
            .to_string();
        let process = container.spawn(
            &[
                "tcpdump",
                "-i",
                CONTAINER_INTERFACE,
                "-n",
                // Each packet to tcpdump as it arrives (not when a TPACKET_V3
                // block fills or its 1 s timeout ends), and into the file at once.
                "--immediate-mode",
                "-U",
                // Stay root: the test's directory is not the tcpdump user's.
                "-Z",
                "root",
                "-w",
                &file_text,
                "udp port 67 or udp port 68",
            ],
            &log,
        )?;
        let listening = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            fs::read_to_string(&log).is_ok_and(|text| text.contains("listening on"))
        });
        if !listening {
            return Err(io::Error::other(format!(
                "tcpdump did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        Ok(Capture { process, file })
    }

    /// The DHCP messages captured so far, in capture order.
    pub fn messages(&self) -> io::Result<Vec<DhcpMessage>> {
        parse_pcap(&fs::read(&self.file)?)
    }

    /// The captured messages once `done` holds for them, or the last ones
    /// read when `timeout` passes: a client may act on a reply a moment
    /// before tcpdump has written it.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[DhcpMessage]) -> bool,
    ) -> io::Result<Vec<DhcpMessage>> {
        let mut last = Ok(Vec::new());
        wait_until(timeout, Duration::from_millis(50), || {
            last = self.messages();
            last.as_ref().is_ok_and(|messages| done(messages))
        });
        last
    }

    /// The pcap file, e.g. to keep it when a test fails.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Stops tcpdump (every packet is already in the file).
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

/// One captured DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpMessage {
    /// 1 BOOTREQUEST (client), 2 BOOTREPLY (server).
    pub op: u8,
    pub xid: u32,
    pub chaddr: [u8; 6],
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    /// The `sname` and `file` header fields up to their NUL.
    pub sname: String,
    pub file: String,
    /// Options of the options field, in order (each code once; split values concatenated).
    pub options: Vec<(u8, Vec<u8>)>,
}

impl DhcpMessage {
    /// Option 53: 1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK...
    pub fn message_type(&self) -> Option<u8> {
        match self.option(53) {
            Some([value]) => Some(*value),
            _ => None,
        }
    }

    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, data)| data.as_slice())
    }

    /// The client's MAC as "02:42:..".
    pub fn mac(&self) -> String {
        let octets: Vec<String> = self.chaddr.iter().map(|o| format!("{o:02x}")).collect();
        octets.join(":")
    }
}

/// The name of a DHCP message type, for assertions that read well.
pub fn type_name(message_type: Option<u8>) -> &'static str {
    match message_type {
        Some(1) => "DISCOVER",
        Some(2) => "OFFER",
        Some(3) => "REQUEST",
        Some(4) => "DECLINE",
        Some(5) => "ACK",
        Some(6) => "NAK",
        Some(7) => "RELEASE",
        Some(8) => "INFORM",
        _ => "?",
    }
}

const ETHERNET: u32 = 1;
const ETHERTYPE_IPV4: u16 = 0x0800;
const UDP: u8 = 17;

/// Reads a classic pcap file (either byte order, µs or ns timestamps) of
/// Ethernet frames and returns the DHCP messages in it.
pub fn parse_pcap(bytes: &[u8]) -> io::Result<Vec<DhcpMessage>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let header = bytes.get(..24).ok_or_else(|| bad("no pcap header"))?;
    let magic = [header[0], header[1], header[2], header[3]];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(bad("not a pcap file")),
    };
    let word = |b: &[u8]| {
        let array = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(array)
        } else {
            u32::from_be_bytes(array)
        }
    };
    if word(&header[20..24]) != ETHERNET {
        return Err(bad("not an Ethernet capture"));
    }
    let mut messages = Vec::new();
    let mut at = 24;
    while let Some(record) = bytes.get(at..at + 16) {
        let length = usize::try_from(word(&record[8..12])).map_err(|_| bad("record length"))?;
        // A record cut short by a kill mid-write ends the capture.
        let Some(frame) = bytes.get(at + 16..at + 16 + length) else {
            break;
        };
        if let Some(message) = dhcp_in_frame(frame) {
            messages.push(message);
        }
        at += 16 + length;
    }
    Ok(messages)
}

fn dhcp_in_frame(frame: &[u8]) -> Option<DhcpMessage> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != UDP {
        return None;
    }
    let udp = ip.get(header_len..)?;
    let ports = [
        u16::from_be_bytes([*udp.first()?, *udp.get(1)?]),
        u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]),
    ];
    if !ports.iter().all(|port| *port == 67 || *port == 68) {
        return None;
    }
    parse_dhcp(udp.get(8..)?)
}

/// The BOOTP header fields and the options field of one DHCP message.
pub fn parse_dhcp(payload: &[u8]) -> Option<DhcpMessage> {
    if payload.get(236..240)? != [99, 130, 83, 99] {
        return None;
    }
    let address = |at: usize| -> Option<Ipv4Addr> {
        let b = payload.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let text = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(payload.get(28..34)?);
    let mut options: Vec<(u8, Vec<u8>)> = Vec::new();
    let area = payload.get(240..)?;
    let mut at = 0;
    while let Some(&code) = area.get(at) {
        match code {
            0 => at += 1,
            255 => break,
            _ => {
                let len = usize::from(*area.get(at + 1)?);
                let data = area.get(at + 2..at + 2 + len)?;
                match options.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, existing)) => existing.extend_from_slice(data),
                    None => options.push((code, data.to_vec())),
                }
                at += 2 + len;
            }
        }
    }
    Some(DhcpMessage {
        op: *payload.first()?,
        xid: u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?),
        chaddr,
        yiaddr: address(16)?,
        siaddr: address(20)?,
        sname: text(payload.get(44..108)?),
        file: text(payload.get(108..236)?),
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DHCPACK from 172.16.0.1:67 to 172.16.0.10:68, in one Ethernet frame.
    fn frame() -> Vec<u8> {
        let mut dhcp = vec![0u8; 240];
        dhcp[0] = 2;
        dhcp[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        dhcp[16..20].copy_from_slice(&[172, 16, 0, 10]);
        dhcp[20..24].copy_from_slice(&[172, 16, 0, 1]);
        dhcp[28..34].copy_from_slice(&[2, 0x42, 0xac, 0x10, 0, 1]);
        dhcp[44..48].copy_from_slice(b"tftp");
        dhcp[108..111].copy_from_slice(b"pxe");
        dhcp[236..240].copy_from_slice(&[99, 130, 83, 99]);
        dhcp.extend_from_slice(&[53, 1, 5, 80, 0, 255]);
        let mut udp = vec![0, 67, 0, 68, 0, 0, 0, 0];
        udp.extend(dhcp);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[172, 16, 0, 1, 172, 16, 0, 10]);
        ip.extend(udp);
        let mut ethernet = vec![0xff; 12];
        ethernet.extend_from_slice(&[0x08, 0x00]);
        ethernet.extend(ip);
        ethernet
    }

    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&ETHERNET.to_le_bytes());
        for frame in frames {
            out.extend_from_slice(&[0; 8]);
            let length = u32::try_from(frame.len()).unwrap();
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    #[test]
    fn reads_dhcp_messages_out_of_a_pcap() {
        let mut bytes = pcap(&[frame(), frame()]);
        bytes.truncate(bytes.len() - 10); // the second record cut short
        let messages = parse_pcap(&bytes).unwrap();
        assert_eq!(messages.len(), 1);
        let ack = &messages[0];
        assert_eq!(ack.op, 2);
        assert_eq!(ack.xid, 0x0102_0304);
        assert_eq!(ack.message_type(), Some(5));
        assert_eq!(type_name(ack.message_type()), "ACK");
        assert_eq!(ack.option(80), Some(&[][..]));
        assert_eq!(ack.yiaddr, Ipv4Addr::new(172, 16, 0, 10));
        assert_eq!(ack.siaddr, Ipv4Addr::new(172, 16, 0, 1));
        assert_eq!((ack.sname.as_str(), ack.file.as_str()), ("tftp", "pxe"));
        assert_eq!(ack.mac(), "02:42:ac:10:00:01");
        assert!(parse_pcap(b"not a pcap file at all..").is_err());
    }
}
