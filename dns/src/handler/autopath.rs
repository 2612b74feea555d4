//! Server-side search-path completion (`--autopath`, as CoreDNS autopath).
//!
//! A pod's resolv.conf searches `<ns>.svc.<zone>`, `svc.<zone>`, `<zone>`
//! with ndots:5, so its first query for `web` or `example.com` arrives as
//! `web.<ns>.svc.<zone>`. Knowing the pod's namespace from its source
//! address, the server tries the rest of the search path itself and answers
//! the first name that exists, with a CNAME from the asked name, so the
//! client needs one round trip instead of up to six.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record};

use crate::zone::Zone;

/// Pod address → namespace, rebuilt when the zone is swapped.
#[derive(Debug, Default)]
pub(crate) struct PodIndex {
    by_ip: HashMap<IpAddr, String>,
}

impl PodIndex {
    pub(crate) fn build(zone: &Zone) -> Self {
        let by_ip = zone.pods.iter().map(|(ns, ip)| (*ip, ns.clone())).collect();
        Self { by_ip }
    }

    pub(crate) fn namespace(&self, ip: IpAddr) -> Option<&str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.by_ip.get(&ip).map(String::as_str)
    }
}

/// The search path after the first element, for a client in `ns`: the
/// names to try for `qname` when `qname` is `<base>.<ns>.svc.<zone>`.
/// Returns `None` when `qname` does not end in the client's first search
/// domain (then it is answered as asked). The last name is the bare
/// `<base>.`, outside the zone (for the forwarder).
pub(crate) fn candidates(zone: &Zone, ns: &str, qname: &Name) -> Option<Vec<Name>> {
    let first = zone.name_of(&[ns, "svc"]).ok()?;
    if !first.zone_of(qname) || qname.num_labels() <= first.num_labels() {
        return None;
    }
    let base_len = usize::from(qname.num_labels() - first.num_labels());
    let mut base = Name::from_labels(qname.iter().take(base_len)).ok()?;
    base.set_fqdn(true);
    let svc = zone.name_of(&["svc"]).ok()?;
    let mut names = Vec::with_capacity(3);
    for suffix in [&svc, zone.domain()] {
        names.push(base.clone().append_domain(suffix).ok()?);
    }
    names.push(base);
    Some(names)
}

/// Rewrites `resp` (the answer for `found`) as the answer for `asked`: the
/// question goes back to `asked` and a CNAME `asked → found` leads the
/// answer section.
pub(crate) fn cname_to(resp: &mut Message, asked: &Name, found: &Name, ttl: u32) {
    let ttl = resp.answers.first().map_or(ttl, |r| r.ttl);
    let cname = Record::from_rdata(asked.clone(), ttl, RData::CNAME(CNAME(found.clone())));
    resp.answers.insert(0, cname);
    if let Some(q) = resp.queries.first_mut() {
        q.set_name(asked.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StaticSource, ZoneConfig};

    #[test]
    fn search_path_after_the_first_domain() {
        let zone = Zone::build(&StaticSource::default(), &ZoneConfig::default()).unwrap();
        let q = Name::from_ascii("Web.Prod.svc.cluster.local.").unwrap();
        let c = candidates(&zone, "prod", &q).unwrap();
        let c: Vec<String> = c.iter().map(|n| n.to_string()).collect();
        assert_eq!(c, ["Web.svc.cluster.local.", "Web.cluster.local.", "Web."]);
        let q = Name::from_ascii("example.com.prod.svc.cluster.local.").unwrap();
        assert_eq!(
            candidates(&zone, "prod", &q)
                .unwrap()
                .last()
                .unwrap()
                .to_string(),
            "example.com."
        );
        let other = Name::from_ascii("web.dev.svc.cluster.local.").unwrap();
        assert!(candidates(&zone, "prod", &other).is_none());
        let bare = Name::from_ascii("prod.svc.cluster.local.").unwrap();
        assert!(candidates(&zone, "prod", &bare).is_none());
    }
}
