//! Label selector strings as `kubectl -l` takes them: `a=b`, `a==b`,
//! `a!=b`, `a` (exists), `!a` (does not exist), comma-separated (AND).

use std::collections::BTreeMap;

/// A selector string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("label selector {selector:?}: invalid requirement {requirement:?}")]
pub struct SelectorError {
    /// The whole selector.
    pub selector: String,
    /// The part that does not parse.
    pub requirement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
}

/// A parsed selector; `matches` is true when every requirement holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<Req>);

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// Parses a selector string (empty: everything).
pub fn parse_selector(text: &str) -> Result<Selector, SelectorError> {
    let mut reqs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || SelectorError {
            selector: text.to_owned(),
            requirement: part.to_owned(),
        };
        let req = if let Some((k, v)) = part.split_once("!=") {
            Req::Ne(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            Req::Eq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some(k) = part.strip_prefix('!') {
            Req::Absent(k.trim().to_owned())
        } else {
            Req::Exists(part.to_owned())
        };
        let key = match &req {
            Req::Eq(k, _) | Req::Ne(k, _) | Req::Exists(k) | Req::Absent(k) => k,
        };
        if !valid_key(key) {
            return Err(bad());
        }
        reqs.push(req);
    }
    Ok(Selector(reqs))
}

impl Selector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::Ne(k, v) => labels.get(k) != Some(v),
            Req::Exists(k) => labels.contains_key(k),
            Req::Absent(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_forms() {
        let labels: BTreeMap<String, String> =
            [("app".into(), "web".into()), ("tier".into(), "fe".into())].into();
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=fe", true),
            ("app!=web", false),
            ("tier", true),
            ("!tier", false),
            ("!db", true),
            ("app=db", false),
        ] {
            assert_eq!(parse_selector(sel).unwrap().matches(&labels), want, "{sel}");
        }
        let e = parse_selector("app=web,=x").unwrap_err();
        assert!(e.to_string().contains("\"=x\""), "{e}");
    }
}
