//! Which upstream answers may be cached, and for how long (RFC 2308).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record};

/// Caps on cache lifetimes, in seconds (from [`crate::ForwardConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TtlPolicy {
    /// Cap for positive answers.
    pub(crate) max_ttl: u32,
    /// Cap for NXDOMAIN and NODATA.
    pub(crate) max_negative_ttl: u32,
    /// Lifetime of an upstream's SERVFAIL.
    pub(crate) servfail_ttl: u32,
}

impl TtlPolicy {
    /// How long `resp` may be cached; `None` when it must not be.
    ///
    /// * positive (NOERROR with answers): the smallest TTL of any record,
    ///   capped by `max_ttl`;
    /// * negative (NXDOMAIN, or NOERROR without answers): the SOA's TTL or
    ///   its MINIMUM, whichever is smaller, capped by `max_negative_ttl`;
    ///   without an SOA it is not cached (RFC 2308 section 5);
    /// * SERVFAIL: `servfail_ttl`;
    /// * truncated answers, other rcodes, and TTL 0: not cached.
    pub(crate) fn cache_ttl(&self, resp: &Message) -> Option<u32> {
        if resp.metadata.truncation {
            return None;
        }
        let ttl = match resp.metadata.response_code {
            ResponseCode::NoError if !resp.answers.is_empty() => {
                min_ttl(resp.all_sections())?.min(self.max_ttl)
            }
            ResponseCode::NoError | ResponseCode::NXDomain => {
                negative_ttl(&resp.authorities)?.min(self.max_negative_ttl)
            }
            ResponseCode::ServFail => self.servfail_ttl,
            _ => return None,
        };
        (ttl > 0).then_some(ttl)
    }
}

fn min_ttl<'a>(records: impl Iterator<Item = &'a Record>) -> Option<u32> {
    records.map(|r| r.ttl).min()
}

/// RFC 2308 section 5: the TTL of a negative answer is the SOA record's TTL
/// or its MINIMUM field, whichever is less.
fn negative_ttl(authorities: &[Record]) -> Option<u32> {
    authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

/// Lowers every record's TTL to at most `ttl`, so that no client is told to
/// keep a record longer than the cache keeps it.
pub(crate) fn clamp_ttls(resp: &mut Message, ttl: u32) {
    for record in resp
        .answers
        .iter_mut()
        .chain(resp.authorities.iter_mut())
        .chain(resp.additionals.iter_mut())
    {
        record.ttl = record.ttl.min(ttl);
    }
}

/// Lowers every record's TTL by `elapsed` seconds.
pub(crate) fn age_ttls(resp: &mut Message, elapsed: u32) {
    for record in resp
        .answers
        .iter_mut()
        .chain(resp.authorities.iter_mut())
        .chain(resp.additionals.iter_mut())
    {
        record.ttl = record.ttl.saturating_sub(elapsed);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::rdata::{A, NS, SOA};
    use hickory_proto::rr::{Name, RData, Record};

    use super::*;

    const POLICY: TtlPolicy = TtlPolicy {
        max_ttl: 3600,
        max_negative_ttl: 1800,
        servfail_ttl: 5,
    };

    fn name() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    fn a(ttl: u32) -> Record {
        Record::from_rdata(name(), ttl, RData::A(A(Ipv4Addr::LOCALHOST)))
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let soa = SOA::new(name(), name(), 1, 7200, 1800, 86400, minimum);
        Record::from_rdata(name(), ttl, RData::SOA(soa))
    }

    fn response(rcode: ResponseCode) -> Message {
        Message::error_msg(1, OpCode::Query, rcode)
    }

    #[test]
    fn positive_is_the_smallest_record_ttl_capped() {
        let mut resp = response(ResponseCode::NoError);
        resp.add_answers([a(300), a(60)]);
        resp.add_additional(a(120));
        assert_eq!(POLICY.cache_ttl(&resp), Some(60));
        resp.answers = vec![a(86400)];
        resp.additionals.clear();
        assert_eq!(POLICY.cache_ttl(&resp), Some(3600));
        resp.answers = vec![a(0)];
        assert_eq!(POLICY.cache_ttl(&resp), None);
    }

    #[test]
    fn negative_is_soa_ttl_or_minimum() {
        let mut resp = response(ResponseCode::NXDomain);
        resp.add_authority(soa(900, 30));
        assert_eq!(POLICY.cache_ttl(&resp), Some(30));
        resp.authorities = vec![soa(20, 300)];
        assert_eq!(POLICY.cache_ttl(&resp), Some(20));
        resp.authorities = vec![soa(86400, 86400)];
        assert_eq!(POLICY.cache_ttl(&resp), Some(1800));
        // NODATA is negative too.
        let mut nodata = response(ResponseCode::NoError);
        nodata.add_authority(soa(10, 10));
        assert_eq!(POLICY.cache_ttl(&nodata), Some(10));
    }

    #[test]
    fn uncacheable_answers() {
        // No SOA: a referral or a bare NXDOMAIN.
        let mut referral = response(ResponseCode::NoError);
        referral.add_authority(Record::from_rdata(name(), 300, RData::NS(NS(name()))));
        assert_eq!(POLICY.cache_ttl(&referral), None);
        assert_eq!(POLICY.cache_ttl(&response(ResponseCode::NXDomain)), None);
        for rcode in [
            ResponseCode::Refused,
            ResponseCode::FormErr,
            ResponseCode::NotImp,
        ] {
            assert_eq!(POLICY.cache_ttl(&response(rcode)), None);
        }
        let mut truncated = response(ResponseCode::NoError);
        truncated.add_answer(a(300));
        truncated.metadata.truncation = true;
        assert_eq!(POLICY.cache_ttl(&truncated), None);
    }

    #[test]
    fn servfail_is_short() {
        assert_eq!(POLICY.cache_ttl(&response(ResponseCode::ServFail)), Some(5));
        let off = TtlPolicy {
            servfail_ttl: 0,
            ..POLICY
        };
        assert_eq!(off.cache_ttl(&response(ResponseCode::ServFail)), None);
    }

    #[test]
    fn clamp_and_age() {
        let mut resp = response(ResponseCode::NoError);
        resp.add_answers([a(300), a(60)]);
        resp.add_authority(soa(5000, 10));
        clamp_ttls(&mut resp, 60);
        age_ttls(&mut resp, 15);
        let ttls: Vec<u32> = resp.all_sections().map(|r| r.ttl).collect();
        assert_eq!(ttls, [45, 45, 45]);
        age_ttls(&mut resp, 100);
        assert!(resp.all_sections().all(|r| r.ttl == 0));
    }
}
