//! TSIG (RFC 8945): checking a signed request and signing its answers.
//!
//! The MAC arithmetic is hickory-proto's (`TSigner`: HMAC over ring, and its
//! reading of a signed message into the bytes that were signed); this module
//! holds the decisions around it, synchronous and with the time passed in:
//! which key, whether the MAC and the time hold, and what TSIG record each
//! answer carries. An unknown key gets NOTAUTH with an unsigned BADKEY, a bad
//! MAC an unsigned BADSIG (§5.2.1, §5.2.2: an error about the key or MAC is
//! never signed), a time outside the window a *signed* BADTIME carrying our
//! time (§5.2.3). Every other answer to a verified request is signed, a
//! multi-message AXFR message by message (§5.3.1).

use std::fmt;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_proto::rr::{Name, Record, TSigner};
use hickory_proto::serialize::binary::BinEncoder;

use crate::config::{TsigAlgorithmName, TsigKey};
use crate::error::DnsError;

/// The most clock difference we accept, whatever fudge a request asks for:
/// a longer window only lets a captured request be replayed for longer.
pub(crate) const MAX_FUDGE: u16 = 300;

/// The keys from the configuration, by name.
#[derive(Clone, Default)]
pub(crate) struct Keyring {
    signers: Vec<TSigner>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the secrets never reach a log.
        let names: Vec<String> = self
            .signers
            .iter()
            .map(|s| s.signer_name().to_string())
            .collect();
        f.debug_struct("Keyring").field("keys", &names).finish()
    }
}

impl Keyring {
    pub fn new(keys: &[TsigKey]) -> Result<Self, DnsError> {
        let mut signers: Vec<TSigner> = Vec::with_capacity(keys.len());
        for key in keys {
            let invalid = |why: String| DnsError::Config(format!("tsig key {}: {why}", key.name));
            let name = Name::from_ascii(&key.name).map_err(|e| invalid(e.to_string()))?;
            if key.secret.is_empty() {
                return Err(invalid("the secret is empty".into()));
            }
            let signer = TSigner::new(
                key.secret.clone(),
                algorithm(key.algorithm),
                name,
                MAX_FUDGE,
            )
            .map_err(|e| invalid(e.to_string()))?;
            if signers
                .iter()
                .any(|s| s.signer_name() == signer.signer_name())
            {
                return Err(invalid("the name is given twice".into()));
            }
            signers.push(signer);
        }
        Ok(Keyring { signers })
    }

    /// The key called `name` (case-insensitive, trailing dot optional).
    pub fn get(&self, name: &str) -> Option<&TSigner> {
        let mut name = Name::from_ascii(name).ok()?;
        name.set_fqdn(true);
        self.find(&name)
    }

    fn find(&self, name: &Name) -> Option<&TSigner> {
        self.signers.iter().find(|s| s.signer_name() == name)
    }
}

fn algorithm(name: TsigAlgorithmName) -> TsigAlgorithm {
    match name {
        TsigAlgorithmName::HmacSha256 => TsigAlgorithm::HmacSha256,
        TsigAlgorithmName::HmacSha512 => TsigAlgorithm::HmacSha512,
    }
}

/// Why a signed request was refused; each is a NOTAUTH answer and a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// BADKEY.
    UnknownKey,
    /// BADSIG.
    BadSignature,
    /// BADTIME.
    OutsideWindow,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::UnknownKey => "badkey",
            Refusal::BadSignature => "badsig",
            Refusal::OutsideWindow => "badtime",
        }
    }
}

/// What a request's TSIG record said.
#[derive(Debug, Clone)]
pub(crate) enum Checked {
    /// Verified: answer, signing every message with `Signing`.
    Verified(Signing),
    /// Refused: answer NOTAUTH with this TSIG.
    Refused(Refusal, ResponseTsig),
}

/// The unsigned TSIG of an error about the key or the MAC: never signed
/// (RFC 8945 §5.3.2), echoing the request's algorithm, fudge and id.
fn unsigned_error(key_name: Name, request: &TSIG, now: u64, error: TsigError) -> ResponseTsig {
    let unsigned = TSIG::new(
        request.algorithm.clone(),
        now,
        request.fudge,
        Vec::new(),
        request.oid,
        Some(error),
        Vec::new(),
    );
    ResponseTsig::Unsigned(Box::new(make_tsig_record(key_name, unsigned)))
}

/// Checks the TSIG of `request` (its wire bytes; `signature` is its last
/// record) against `keys` at `now` (Unix seconds).
pub(crate) fn check(request: &[u8], signature: &Record<TSIG>, keys: &Keyring, now: u64) -> Checked {
    let tsig = &signature.data;
    // RFC 8945 §5.2.1: an unknown key or an algorithm other than the key's.
    let Some(signer) = keys
        .find(&signature.name)
        .filter(|s| *s.algorithm() == tsig.algorithm)
    else {
        return Checked::Refused(
            Refusal::UnknownKey,
            unsigned_error(signature.name.clone(), tsig, now, TsigError::BadKey),
        );
    };
    // §5.2.2 (hickory refuses truncated MACs too: a BADSIG here).
    if signer.verify_message_byte(request, None, true).is_err() {
        return Checked::Refused(
            Refusal::BadSignature,
            unsigned_error(signer.signer_name().clone(), tsig, now, TsigError::BadSig),
        );
    }
    let signing = Signing {
        signer: signer.clone(),
        request_mac: tsig.mac.clone(),
        oid: tsig.oid,
        time: now,
        error: None,
        other: Vec::new(),
    };
    // §5.2.3: outside the window, a signed BADTIME whose Time Signed is the
    // request's (so the client accepts it) and whose Other Data is our time.
    let window = u64::from(tsig.fudge.min(MAX_FUDGE));
    if now.abs_diff(tsig.time) > window {
        return Checked::Refused(
            Refusal::OutsideWindow,
            ResponseTsig::Signed(Signing {
                time: tsig.time,
                error: Some(TsigError::BadTime),
                other: time48(now).to_vec(),
                ..signing
            }),
        );
    }
    Checked::Verified(signing)
}

/// The TSIG record an answer carries.
#[derive(Debug, Clone)]
pub(crate) enum ResponseTsig {
    /// BADKEY and BADSIG: a record without a MAC.
    Unsigned(Box<Record<TSIG>>),
    /// Everything else: a MAC over the request's MAC and the answer.
    Signed(Signing),
}

/// What signing the answers to one verified request takes.
#[derive(Clone)]
pub(crate) struct Signing {
    signer: TSigner,
    request_mac: Vec<u8>,
    /// The request TSIG's original ID, echoed.
    oid: u16,
    /// Time Signed of every answer.
    time: u64,
    error: Option<TsigError>,
    other: Vec<u8>,
}

impl fmt::Debug for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signing")
            .field("key", &self.signer.signer_name().to_string())
            .field("time", &self.time)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Signing {
    /// The key that signed the request.
    pub fn key(&self) -> &Name {
        self.signer.signer_name()
    }

    /// Signs the messages of one answer in order: the first over the
    /// request's MAC and the full TSIG variables, each later one over the
    /// MAC before it and the timers only (§5.3.1).
    pub fn chain(&self) -> Chain<'_> {
        Chain {
            signing: self,
            previous_mac: None,
        }
    }
}

/// The state between the messages of one signed answer.
pub(crate) struct Chain<'s> {
    signing: &'s Signing,
    /// `None` before the first message.
    previous_mac: Option<Vec<u8>>,
}

impl Chain<'_> {
    /// The TSIG record for `unsigned`, the next message's wire form without
    /// it, and the MAC to [`Chain::advance`] with once the message is sent.
    pub fn sign(&self, unsigned: &[u8]) -> Option<(Box<Record<TSIG>>, Vec<u8>)> {
        let s = self.signing;
        let stub = TSIG::new(
            s.signer.algorithm().clone(),
            s.time,
            s.signer.fudge(),
            Vec::new(),
            s.oid,
            s.error,
            s.other.clone(),
        );
        let tbs = match &self.previous_mac {
            None => s
                .signer
                .encode_response_tbs(&s.request_mac, unsigned, &stub)
                .ok()?,
            Some(previous) => {
                let mut tbs = Vec::with_capacity(previous.len() + unsigned.len() + 10);
                let mut encoder = BinEncoder::new(&mut tbs);
                encoder.emit_u16(u16::try_from(previous.len()).ok()?).ok()?;
                encoder.emit_vec(previous).ok()?;
                encoder.emit_vec(unsigned).ok()?;
                encoder.emit_vec(&time48(s.time)).ok()?;
                encoder.emit_u16(s.signer.fudge()).ok()?;
                tbs
            }
        };
        let mac = s.signer.sign(&tbs).ok()?;
        let record = make_tsig_record(s.signer.signer_name().clone(), stub.set_mac(mac.clone()));
        Some((Box::new(record), mac))
    }

    pub fn advance(&mut self, mac: Vec<u8>) {
        self.previous_mac = Some(mac);
    }
}

/// A time in seconds as TSIG's 48-bit field.
fn time48(seconds: u64) -> [u8; 6] {
    let bytes = seconds.to_be_bytes();
    [bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
}

/// A message with the TSIG record `record` added, encoded.
pub(crate) fn with_signature(message: &Message, record: Box<Record<TSIG>>) -> Option<Vec<u8>> {
    let mut signed = message.clone();
    signed.set_signature(record);
    signed.to_vec().ok()
}

#[cfg(test)]
mod tests;
