//! The request path on 200,000 mutated queries (bit flips, cuts, splices,
//! pointer bytes): every one gets a well-formed answer or none, and nothing
//! panics. The same entry point is the fuzz target (dns/fuzz).

use std::sync::Arc;

use berth_dns::hickory_proto::op::{Edns, Message, Query};
use berth_dns::hickory_proto::rr::{Name, RecordType};
use berth_dns::{Handler, StaticSource, Zone, ZoneConfig, handle_once};

const ROUNDS: usize = 200_000;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let names = [
        ("web.default.svc.cluster.local.", RecordType::A),
        ("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV),
        ("db.default.svc.cluster.local.", RecordType::AAAA),
        ("10.0.96.10.in-addr.arpa.", RecordType::PTR),
        ("web.default.default.svc.cluster.local.", RecordType::A),
        ("example.com.", RecordType::TXT),
    ];
    names
        .iter()
        .flat_map(|(n, t)| {
            [false, true].map(|edns| {
                let mut q = Message::query();
                q.add_query(Query::query(Name::from_ascii(n).unwrap(), *t));
                if edns {
                    q.set_edns(Edns::new());
                }
                q.to_vec().unwrap()
            })
        })
        .collect()
}

#[test]
fn mutated_queries_never_panic() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster.yaml");
    let source = StaticSource::from_file(&path).unwrap();
    let zone = Zone::build(&source, &ZoneConfig::default()).unwrap();
    let handler = Arc::new(Handler::new(Arc::new(zone)).with_autopath(true));
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut answered = 0;
    for _ in 0..ROUNDS {
        let mut p = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 => {
                    let i = rng.below(p.len());
                    p[i] ^= 1 << rng.below(8);
                }
                1 => p.truncate(rng.below(p.len() + 1)),
                2 => {
                    let i = rng.below(p.len() + 1);
                    p.insert(i, rng.next() as u8);
                }
                3 => {
                    // A compression pointer somewhere.
                    let i = rng.below(p.len().max(1));
                    if i + 1 < p.len() {
                        p[i] = 0xc0;
                        p[i + 1] = rng.below(p.len()) as u8;
                    }
                }
                _ => {
                    let i = rng.below(p.len());
                    p[i] = rng.next() as u8;
                }
            }
            if p.is_empty() {
                break;
            }
        }
        if let Some(resp) = handle_once(&handler, &p) {
            let parsed = Message::from_vec(&resp).expect("our answers parse");
            assert_eq!(parsed.metadata.id.to_be_bytes(), [p[0], p[1]]);
            answered += 1;
        }
    }
    // Most mutations keep a parseable header, so most get an answer.
    assert!(
        answered > ROUNDS / 4,
        "only {answered} of {ROUNDS} answered"
    );
}
