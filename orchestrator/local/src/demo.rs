//! The demo `berth up` deploys: a 3-replica HTTP Deployment (busybox httpd
//! answering with its pod's name), its Service, and a client pod; the
//! parsing of what the client pod's tools print; and [`run`], which
//! deploys it and checks what it does.

mod run;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use self::run::{Check, DemoError, LATENCY_REQUESTS, SPREAD_REQUESTS, Step, run};

/// The namespace of the demo.
pub const NAMESPACE: &str = "default";
/// The Deployment and Service name.
pub const SERVICE: &str = "web";
/// The client pod.
pub const CLIENT: &str = "client";
/// The replicas of the Deployment.
pub const REPLICAS: usize = 3;
/// The container port each replica listens on.
pub const TARGET_PORT: u16 = 8080;
/// The Service port.
pub const PORT: u16 = 80;
/// The cluster domain of the demo.
pub const DOMAIN: &str = "cluster.local";

/// The service's DNS name in the cluster domain.
pub fn service_fqdn(domain: &str) -> String {
    format!("{SERVICE}.{NAMESPACE}.svc.{domain}")
}

/// A Deployment of `replicas` busybox httpd pods labelled `app: <name>`,
/// each answering with its pod's name on [`TARGET_PORT`] (Ready once it
/// listens), optionally pinned to `node` by `nodeSelector`; and its
/// Service on [`PORT`].
pub fn web(name: &str, replicas: usize, node: Option<&str>) -> String {
    let pin = node.map_or(String::new(), |n| {
        format!("      nodeSelector:\n        kubernetes.io/hostname: {n}\n")
    });
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NAMESPACE}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{pin}      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "mkdir -p /www && echo $POD_NAME > /www/index.html && exec httpd -f -p {TARGET_PORT} -h /www"]
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        ports:
        - name: http
          containerPort: {TARGET_PORT}
        readinessProbe:
          tcpSocket:
            port: {TARGET_PORT}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {NAMESPACE}
spec:
  selector:
    app: {name}
  ports:
  - name: http
    port: {PORT}
    targetPort: http
"#
    )
}

/// The demo's manifests (one YAML stream).
pub fn manifest() -> String {
    format!(
        r#"{}---
apiVersion: v1
kind: Pod
metadata:
  name: {CLIENT}
  namespace: {NAMESPACE}
spec:
  containers:
  - name: client
    image: busybox
    command: ["sleep", "infinity"]
"#,
        web(SERVICE, REPLICAS, None)
    )
}

/// The client pod's shell loop: `n` HTTP/1.0 requests to the service by
/// name with busybox `nc`, one response body (a pod name) or `FAILED` per
/// line. Not busybox `wget`: Debian's static busybox crashes in glibc's
/// NSS (`getservbyname`) inside an image without NSS modules.
pub fn request_loop(n: usize, domain: &str) -> String {
    request_loop_to(n, &format!("{} {PORT}", service_fqdn(domain)))
}

/// The same loop to `target` (`HOST PORT`, as `nc` takes them: a name or
/// an address, IPv6 ones too).
pub fn request_loop_to(n: usize, target: &str) -> String {
    format!("for i in $(seq {n}); do {}; done", request(target, ""))
}

/// One request to `target` (`HOST PORT`, as `nc` takes them) in the
/// client's shell: prints `prefix` and the response body, or `prefix` and
/// `FAILED`.
fn request(target: &str, prefix: &str) -> String {
    format!(
        "b=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {target} | tail -n 1); if [ -n \"$b\" ]; then echo \"{prefix}$b\"; else echo \"{prefix}FAILED\"; fi"
    )
}

/// A request stream for the client's shell: requests to `target` (`HOST
/// PORT`) one after another until the file `stop` exists, each line
/// `UPTIME ANSWER` ([`Timed`]: the kernel's uptime when the request
/// started, from `/proc/uptime`, then the body or `FAILED`), then `END`.
/// Runs detached, writing to `out`, so that a test can read it while it
/// goes on (`exec` returns at once).
pub fn request_stream(target: &str, stop: &str, out: &str) -> String {
    format!(
        "rm -f {stop} {out}; (while [ ! -e {stop} ]; do read t rest < /proc/uptime; {}; done; echo END) > {out} 2>/dev/null < /dev/null &",
        request(target, "$t ")
    )
}

/// One line of a [`request_stream`]: when the request started (the
/// kernel's uptime, seconds) and the answering pod, `None` if it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// `/proc/uptime` when the request started.
    pub at: f64,
    /// The answering pod's name, or `None` for a failure.
    pub answer: Option<String>,
}

impl Timed {
    /// The stream's lines (without the final `END`); whether `END` was
    /// there.
    pub fn parse(out: &str) -> (Vec<Timed>, bool) {
        let mut lines = Vec::new();
        let mut ended = false;
        for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line == "END" {
                ended = true;
                continue;
            }
            let Some((at, answer)) = line.split_once(' ') else {
                continue;
            };
            let Ok(at) = at.parse() else {
                continue;
            };
            lines.push(Timed {
                at,
                answer: (answer != "FAILED").then(|| answer.to_owned()),
            });
        }
        (lines, ended)
    }
}

/// What the request loop printed: answers per replica, and failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    /// Requests answered, by the answering pod's name.
    pub by_pod: BTreeMap<String, usize>,
    /// Requests that failed.
    pub failed: usize,
}

impl Spread {
    /// Parses the loop's output.
    pub fn parse(out: &str) -> Self {
        let mut s = Self::default();
        for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line == "FAILED" {
                s.failed += 1;
            } else {
                *s.by_pod.entry(line.to_owned()).or_default() += 1;
            }
        }
        s
    }

    /// Requests answered.
    pub fn answered(&self) -> usize {
        self.by_pod.values().sum()
    }
}

/// The addresses busybox `nslookup NAME` printed for the name (the lines
/// after `Name:`), not the server's own address.
pub fn nslookup_addresses(out: &str) -> Vec<IpAddr> {
    let mut after_name = false;
    let mut addrs = Vec::new();
    for line in out.lines().map(str::trim) {
        if line.starts_with("Name:") {
            after_name = true;
            continue;
        }
        if !after_name {
            continue;
        }
        if let Some(rest) = line.strip_prefix("Address:").or_else(|| {
            line.strip_prefix("Address ")
                .and_then(|r| r.split_once(':').map(|(_, a)| a))
        }) && let Ok(ip) = rest.trim().parse()
        {
            addrs.push(ip);
        }
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_counts_pods_and_failures() {
        let s = Spread::parse("web-1\nweb-2\n\nweb-1\nFAILED\nweb-3\n");
        assert_eq!(s.answered(), 4);
        assert_eq!(s.failed, 1);
        assert_eq!(s.by_pod.len(), 3);
        assert_eq!(s.by_pod["web-1"], 2);
    }

    #[test]
    fn a_timed_stream_parses_answers_failures_and_its_end() {
        let (lines, ended) = Timed::parse("12.50 web-1\n12.61 FAILED\n13.02 web-2\n");
        assert!(!ended);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            Timed {
                at: 12.61,
                answer: None
            }
        );
        assert_eq!(lines[2].answer.as_deref(), Some("web-2"));
        let (_, ended) = Timed::parse("12.50 web-1\nEND\n");
        assert!(ended);
        let s = request_stream("web 80", "/tmp/stop", "/tmp/out");
        assert!(
            s.contains("while [ ! -e /tmp/stop ]") && s.contains("> /tmp/out"),
            "{s}"
        );
        assert!(s.contains("echo \"$t $b\""), "{s}");
    }

    #[test]
    fn nslookup_answers_not_the_server() {
        let out = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tweb.default.svc.cluster.local\nAddress: 10.96.0.23\n\n";
        assert_eq!(
            nslookup_addresses(out),
            vec!["10.96.0.23".parse::<IpAddr>().unwrap()]
        );
        assert!(nslookup_addresses("** server can't find x: NXDOMAIN\n").is_empty());
    }

    #[test]
    fn the_manifest_names_the_demo() {
        let m = manifest();
        assert!(m.contains("name: web") && m.contains("name: client"));
        assert!(
            request_loop(3, "cluster.local").contains("nc -w 2 web.default.svc.cluster.local 80")
        );
    }
}
