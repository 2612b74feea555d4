//! Label selectors: the one model of `matchLabels` and set-based
//! `matchExpressions` (`In`, `NotIn`, `Exists`, `DoesNotExist`), its
//! matching, and its string form (`app=web,env in (prod,qa),!canary`, see
//! [`parse`]) for `-l` and list requests.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::macros::string_enum;

mod parse;

pub use parse::{SelectorError, parse};

string_enum! {
    /// The operator of a selector requirement.
    pub enum SelectorOperator {
        /// The label's value is one of `values`.
        #[default]
        In = "In",
        /// The label is absent or its value is none of `values`.
        NotIn = "NotIn",
        /// The label is present (`values` empty).
        Exists = "Exists",
        /// The label is absent (`values` empty).
        DoesNotExist = "DoesNotExist",
    }
}

/// A label selector, as in `spec.selector` of a Deployment.
///
/// All of `matchLabels` and all of `matchExpressions` must hold. An empty
/// selector matches every set of labels (Deployments reject it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One requirement: a key, an operator and values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    #[serde(default)]
    pub key: String,
    /// The operator.
    pub operator: SelectorOperator,
    /// The values (non-empty for `In` and `NotIn`, empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// A selector of `matchLabels` only.
    pub fn from_labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Whether the selector has no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels_match(&self.match_labels, labels)
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl LabelSelectorRequirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// Whether `labels` contain every pair of `selector` (a Service's
/// `spec.selector`). True for an empty selector: a Service without a
/// selector gets no managed endpoints, which callers check first.
pub fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    /// Parses the string form (see [`parse`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}

/// Writes the selector the way kubectl shows it:
/// `app=web,tier in (a,b),!canary`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                SelectorOperator::In => format!("{} in ({})", r.key, r.values.join(",")),
                SelectorOperator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                SelectorOperator::Exists => r.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", r.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests;
