//! The resolver: a pure function from a parsed query to a response.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::lookup::Lookup;
use crate::zone::Zone;

/// The UDP payload size we advertise in EDNS0 (the DNS flag day value).
pub(crate) const SERVER_UDP_PAYLOAD: u16 = 1232;

/// Answers one query message from the cluster zone alone: names outside
/// the zone are REFUSED (the server hands those to its upstream instead).
pub fn answer(zone: &Zone, query: &Message) -> Message {
    answer_local(zone, query).unwrap_or_else(|| reply(query, ResponseCode::Refused))
}

/// Answers `query` from the zone, or `None` when the name is not the zone's
/// (a forwarder's business). Malformed and unsupported queries, and EDNS
/// versions other than 0 (BADVERS, RFC 6891), are answered here.
pub(crate) fn answer_local(zone: &Zone, query: &Message) -> Option<Message> {
    let mut resp = reply(query, ResponseCode::NoError);
    let rcode = fill(zone, query, &mut resp)?;
    resp.metadata.response_code = rcode;
    Some(resp)
}

/// An empty response to `query` with its id, flags, question and EDNS.
pub(crate) fn reply(query: &Message, rcode: ResponseCode) -> Message {
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.metadata.response_code = rcode;
    resp.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(SERVER_UDP_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

/// Checks that cannot depend on the zone; `Some(rcode)` ends the query.
pub(crate) fn precheck(query: &Message) -> Option<ResponseCode> {
    if query.metadata.message_type != MessageType::Query {
        return Some(ResponseCode::FormErr);
    }
    if query.metadata.op_code != OpCode::Query {
        return Some(ResponseCode::NotImp);
    }
    if query.edns.as_ref().is_some_and(|e| e.version() != 0) {
        return Some(ResponseCode::BADVERS);
    }
    let [question] = query.queries.as_slice() else {
        return Some(ResponseCode::FormErr);
    };
    if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY)
        || matches!(question.query_type(), RecordType::AXFR | RecordType::IXFR)
    {
        return Some(ResponseCode::Refused);
    }
    None
}

fn fill(zone: &Zone, query: &Message, resp: &mut Message) -> Option<ResponseCode> {
    if let Some(rcode) = precheck(query) {
        return Some(rcode);
    }
    let question = &query.queries[0];
    let qtype = question.query_type();
    let records = match zone.lookup(question.name()) {
        Lookup::OutOfZone => return None,
        Lookup::NxDomain => {
            resp.metadata.authoritative = true;
            resp.add_authority(zone.soa.clone());
            return Some(ResponseCode::NXDomain);
        }
        Lookup::Found(records) => records,
    };
    resp.metadata.authoritative = true;
    let mut answers: Vec<Record> = records
        .iter()
        .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
        .cloned()
        .collect();
    if answers.is_empty() {
        answers = records
            .into_iter()
            .filter(|r| r.record_type() == RecordType::CNAME)
            .collect();
    }
    if answers.is_empty() {
        resp.add_authority(zone.soa.clone());
        return Some(ResponseCode::NoError);
    }
    for record in &answers {
        if let RData::SRV(srv) = &record.data
            && let Lookup::Found(extra) = zone.lookup(&srv.target)
        {
            resp.add_additionals(
                extra
                    .into_iter()
                    .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA)),
            );
        }
    }
    for mut record in answers {
        record.name = question.name().clone();
        resp.add_answer(record);
    }
    Some(ResponseCode::NoError)
}
