//! The resolver: a pure function from a parsed query to a response.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::lookup::Lookup;
use crate::zone::Zone;

/// The UDP payload size we advertise in EDNS0 (the DNS flag day value).
pub(crate) const SERVER_UDP_PAYLOAD: u16 = 1232;

/// Answers one query message from the cluster zone.
///
/// Names outside the zone are REFUSED (forwarding is a later slice).
pub fn answer(zone: &Zone, query: &Message) -> Message {
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.metadata.checking_disabled = query.metadata.checking_disabled;
    resp.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(SERVER_UDP_PAYLOAD);
        resp.set_edns(edns);
    }
    let rcode = fill(zone, query, &mut resp);
    resp.metadata.response_code = rcode;
    resp
}

fn fill(zone: &Zone, query: &Message, resp: &mut Message) -> ResponseCode {
    if query.metadata.message_type != MessageType::Query {
        return ResponseCode::FormErr;
    }
    if query.metadata.op_code != OpCode::Query {
        return ResponseCode::NotImp;
    }
    let [question] = query.queries.as_slice() else {
        return ResponseCode::FormErr;
    };
    if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY) {
        return ResponseCode::Refused;
    }
    let qtype = question.query_type();
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return ResponseCode::Refused;
    }
    let records = match zone.lookup(question.name()) {
        Lookup::OutOfZone => return ResponseCode::Refused,
        Lookup::NxDomain => {
            resp.metadata.authoritative = true;
            resp.add_authority(zone.soa.clone());
            return ResponseCode::NXDomain;
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
        return ResponseCode::NoError;
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
    ResponseCode::NoError
}
