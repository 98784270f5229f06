//! The forwarder's answer cache: pure, with time passed in.
//!
//! Positive answers live as long as their smallest TTL; negative ones as long
//! as RFC 2308 §5 says (min of the SOA's TTL and MINIMUM) and are not cached
//! without an SOA. TTLs handed out are decremented by the time spent in cache.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, Record, RecordType};

/// Longest time anything stays (BIND's max-cache-ttl default is a week; we
/// prefer freshness).
const MAX_TTL: u32 = 86_400;
/// Longest time a negative answer stays (RFC 2308 §5 suggests 1–3 hours).
const MAX_NEGATIVE_TTL: u32 = 3 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// Lowercase, no trailing dot.
    pub name: String,
    pub qtype: u16,
    /// Answers fetched with DO carry signatures the others should not get.
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

/// An upstream answer, without header or OPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamAnswer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

#[derive(Debug)]
struct Entry {
    answer: UpstreamAnswer,
    stored: Instant,
    expires: Instant,
}

#[derive(Debug)]
pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Cache {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// Forgets everything (the upstream resolvers changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The cached answer with TTLs counted down, or `None`.
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<UpstreamAnswer> {
        let entry = self.entries.get(key)?;
        if entry.expires <= now {
            self.entries.remove(key);
            return None;
        }
        let elapsed = u32::try_from(now.duration_since(entry.stored).as_secs()).unwrap_or(u32::MAX);
        let mut answer = entry.answer.clone();
        for record in answer
            .answers
            .iter_mut()
            .chain(answer.authorities.iter_mut())
            .chain(answer.additionals.iter_mut())
        {
            record.ttl = record.ttl.saturating_sub(elapsed);
        }
        Some(answer)
    }

    /// Stores `answer` if it is cacheable.
    pub fn insert(&mut self, key: Key, answer: &UpstreamAnswer, now: Instant) {
        let Some(ttl) = cache_ttl(answer) else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= self.capacity {
                // Still full of live entries: drop the one closest to expiry.
                let victim = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone());
                if let Some(victim) = victim {
                    self.entries.remove(&victim);
                }
            }
        }
        let entry = Entry {
            answer: answer.clone(),
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
        };
        self.entries.insert(key, entry);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// How long `answer` may be cached, or `None` if it must not be.
pub(crate) fn cache_ttl(answer: &UpstreamAnswer) -> Option<u32> {
    let cached_types = |r: &&Record| r.record_type() != RecordType::OPT;
    let ttl = match answer.rcode {
        ResponseCode::NoError if !answer.answers.is_empty() => answer
            .answers
            .iter()
            .chain(&answer.authorities)
            .filter(cached_types)
            .map(|r| r.ttl)
            .min()?
            .min(MAX_TTL),
        ResponseCode::NoError | ResponseCode::NXDomain => {
            let soa = answer.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })?;
            soa.min(MAX_NEGATIVE_TTL)
        }
        _ => return None,
    };
    (ttl > 0).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::{A, SOA};

    use super::*;

    fn key(name: &str) -> Key {
        Key {
            name: name.into(),
            qtype: 1,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn positive(ttl: u32) -> UpstreamAnswer {
        let name = Name::from_ascii("www.example.").unwrap();
        UpstreamAnswer {
            rcode: ResponseCode::NoError,
            answers: vec![Record::from_rdata(
                name,
                ttl,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            )],
            authorities: vec![],
            additionals: vec![],
        }
    }

    fn negative(rcode: ResponseCode, soa_ttl: u32, minimum: u32) -> UpstreamAnswer {
        let name = Name::from_ascii("example.").unwrap();
        let soa = SOA::new(name.clone(), name.clone(), 1, 1, 1, 1, minimum);
        UpstreamAnswer {
            rcode,
            answers: vec![],
            authorities: vec![Record::from_rdata(name, soa_ttl, RData::SOA(soa))],
            additionals: vec![],
        }
    }

    #[test]
    fn ttls_follow_rfc_2308() {
        assert_eq!(cache_ttl(&positive(300)), Some(300));
        assert_eq!(cache_ttl(&positive(0)), None);
        assert_eq!(cache_ttl(&positive(10 * 86_400)), Some(MAX_TTL));
        assert_eq!(
            cache_ttl(&negative(ResponseCode::NXDomain, 3600, 60)),
            Some(60)
        );
        assert_eq!(
            cache_ttl(&negative(ResponseCode::NoError, 30, 60)),
            Some(30)
        );
        let mut no_soa = negative(ResponseCode::NXDomain, 30, 60);
        no_soa.authorities.clear();
        assert_eq!(cache_ttl(&no_soa), None);
        assert_eq!(cache_ttl(&negative(ResponseCode::ServFail, 30, 60)), None);
    }

    #[test]
    fn entries_count_down_and_expire() {
        let mut cache = Cache::new(10);
        let t0 = Instant::now();
        cache.insert(key("www.example"), &positive(100), t0);
        let hit = cache
            .get(&key("www.example"), t0 + Duration::from_secs(40))
            .unwrap();
        assert_eq!(hit.answers[0].ttl, 60);
        assert!(
            cache
                .get(&key("www.example"), t0 + Duration::from_secs(100))
                .is_none()
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_evicts_the_entry_closest_to_expiry() {
        let mut cache = Cache::new(2);
        let t0 = Instant::now();
        cache.insert(key("a"), &positive(100), t0);
        cache.insert(key("b"), &positive(10), t0);
        cache.insert(key("c"), &positive(50), t0);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("b"), t0).is_none());
        assert!(cache.get(&key("a"), t0).is_some());
        assert!(cache.get(&key("c"), t0).is_some());
    }
}
