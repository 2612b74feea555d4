//! An SVG plot of p50 latency against the number of services, both axes
//! log scale (namespace rows are microseconds, emulated VMs' milliseconds),
//! one line per env, mode and placement: solid same-node, dashed
//! cross-node.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::{ClusterRow, MODES};

const W: f64 = 880.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn colour(mode: &str) -> &'static str {
    match mode {
        "vip" => "#1b7f3b",
        "direct" => "#555555",
        "nftables" => "#1f5fbf",
        "iptables" => "#c0392b",
        _ => "#999999",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plot of `rows`' latency modes (baselines left out).
pub fn svg(rows: &[ClusterRow]) -> String {
    // (env, placement, mode) → (services, p50) sorted by services.
    let mut lines: BTreeMap<(String, String, usize), Vec<(usize, f64)>> = BTreeMap::new();
    for r in rows {
        if let Some(m) = MODES.iter().position(|m| *m == r.mode) {
            lines
                .entry((r.env.clone(), r.placement.clone(), m))
                .or_default()
                .push((r.services, r.p50_us));
        }
    }
    for pts in lines.values_mut() {
        pts.sort_by_key(|(n, _)| *n);
    }
    let all = lines.values().flatten();
    let n_max = all.clone().map(|(n, _)| *n).max().unwrap_or(1).max(10) as f64;
    let y_hi = all.clone().map(|(_, y)| *y).fold(1.0_f64, f64::max);
    let y_lo = all.map(|(_, y)| *y).fold(y_hi, f64::min).max(0.1);
    // Whole decades around the data.
    let (d_lo, d_hi) = (
        y_lo.log10().floor(),
        (y_hi.log10().ceil()).max(y_lo.log10().floor() + 1.0),
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |n: usize| LEFT + (n.max(1) as f64).log10() / n_max.log10() * pw;
    let y = |v: f64| TOP + ph - (v.max(0.1).log10() - d_lo) / (d_hi - d_lo) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15">berth bench lb --cluster: connection latency p50 (µs, log) vs services</text>"#
    );
    // Axes, ticks at powers of ten and at five y steps.
    let _ = writeln!(
        s,
        r#"<path d="M{LEFT},{TOP} V{} H{}" stroke="black" fill="none"/>"#,
        TOP + ph,
        LEFT + pw
    );
    let mut t = 1usize;
    while t as f64 <= n_max {
        let _ = writeln!(
            s,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="gainsboro"/><text x="{0:.1}" y="{3}" text-anchor="middle">{t}</text>"#,
            x(t),
            TOP,
            TOP + ph,
            TOP + ph + 18.0
        );
        t *= 10;
    }
    let mut ticks = Vec::new();
    let mut d = d_lo;
    while d <= d_hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(d);
            if v <= 10f64.powf(d_hi) * 1.0001 {
                ticks.push(v);
            }
        }
        d += 1.0;
    }
    for v in ticks {
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" x2="{0}" y1="{1:.1}" y2="{1:.1}" stroke="whitesmoke"/><text x="{2}" y="{3:.1}" text-anchor="end">{v:.0}</text>"#,
            LEFT + pw,
            y(v),
            LEFT - 6.0,
            y(v) + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">services (log scale)</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    for (k, ((env, placement, m), pts)) in lines.iter().enumerate() {
        let mode = MODES[*m];
        let dash = if placement == "cross-node" {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let path: Vec<String> = pts
            .iter()
            .map(|(n, v)| format!("{:.1},{:.1}", x(*n), y(*v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            colour(mode)
        );
        for (n, v) in pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                x(*n),
                y(*v),
                colour(mode)
            );
        }
        let ly = TOP + 10.0 + 18.0 * k as f64;
        let lx = W - RIGHT + 15.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 28.0,
            colour(mode),
            lx + 34.0,
            ly + 4.0,
            escape(&format!("{mode}, {placement} ({env})"))
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(placement: &str, mode: &str, services: usize, p50: f64) -> ClusterRow {
        ClusterRow {
            env: "netns".into(),
            placement: placement.into(),
            mode: mode.into(),
            services,
            p50_us: p50,
            p90_us: p50,
            p99_us: p50,
        }
    }

    #[test]
    fn one_line_per_mode_and_placement_baselines_left_out() {
        let rows = [
            row("same-node", "vip", 1, 50.0),
            row("same-node", "vip", 10_000, 52.0),
            row("cross-node", "iptables", 1, 60.0),
            row("cross-node", "iptables", 10_000, 900.0),
            row("cross-node", "iptables:baseline", 10_000, 55.0),
        ];
        let svg = svg(&rows);
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("vip, same-node (netns)"));
        assert!(svg.contains(r#"stroke-dasharray="6,4""#));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
