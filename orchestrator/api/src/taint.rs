//! Taints and tolerations: a node's taints (`spec.taints`) repel pods
//! that do not tolerate them (`spec.tolerations` of a pod).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::macros::string_enum;
use crate::time::Time;

string_enum! {
    /// What a taint does to pods that do not tolerate it.
    pub enum TaintEffect {
        /// New pods are not scheduled on the node.
        #[default]
        NoSchedule = "NoSchedule",
        /// The scheduler avoids the node when it can.
        PreferNoSchedule = "PreferNoSchedule",
        /// New pods are not scheduled and running ones are evicted.
        NoExecute = "NoExecute",
    }
}

string_enum! {
    /// How a toleration's value is compared with a taint's.
    pub enum TolerationOperator {
        /// The values are equal.
        #[default]
        Equal = "Equal",
        /// Any value (the toleration's value is empty).
        Exists = "Exists",
    }
}

/// A taint of a node (`spec.taints[]`): pods that do not tolerate it are
/// kept off the node (or evicted, with `NoExecute`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Taint {
    /// The key (a label key: `node.kubernetes.io/unreachable`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The value (a label value; may be empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// What it does to pods that do not tolerate it.
    pub effect: TaintEffect,
    /// When it was added (set for `NoExecute` taints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// `key=value:Effect` (`key:Effect` without a value), as kubectl writes
/// taints.
impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if !self.value.is_empty() {
            write!(f, "={}", self.value)?;
        }
        write!(f, ":{}", self.effect)
    }
}

/// A toleration of a pod (`spec.tolerations[]`): the taints it matches do
/// not keep the pod off a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Toleration {
    /// The taint key matched; empty (with `Exists`) matches every key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// How the value is compared (`Equal` by default).
    pub operator: TolerationOperator,
    /// The taint value matched with `Equal` (empty with `Exists`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// The taint effect matched; none matches every effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    /// With `NoExecute`: how long the pod stays bound after the taint is
    /// added (forever when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Whether this toleration matches `taint`, as Kubernetes decides: the
    /// effects are equal (or the toleration has none), the keys are equal
    /// (or the toleration's is empty), and, with `Equal`, the values are
    /// equal (`Exists` ignores the value).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Equal => self.value == taint.value,
            TolerationOperator::Exists => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_owned(),
            value: value.to_owned(),
            effect,
            time_added: None,
        }
    }

    fn toleration(
        key: &str,
        operator: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.to_owned(),
            operator,
            value: value.to_owned(),
            effect,
            toleration_seconds: None,
        }
    }

    use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
    use TolerationOperator::{Equal, Exists};

    #[test]
    fn equal_compares_key_value_and_effect() {
        let t = toleration("dedicated", Equal, "gpu", Some(NoSchedule));
        assert!(t.tolerates(&taint("dedicated", "gpu", NoSchedule)));
        assert!(!t.tolerates(&taint("dedicated", "cpu", NoSchedule)));
        assert!(!t.tolerates(&taint("dedicated", "", NoSchedule)));
        assert!(!t.tolerates(&taint("other", "gpu", NoSchedule)));
        assert!(!t.tolerates(&taint("dedicated", "gpu", NoExecute)));
        // Equal with an empty value matches a taint without value only.
        let t = toleration("node-role", Equal, "", Some(NoSchedule));
        assert!(t.tolerates(&taint("node-role", "", NoSchedule)));
        assert!(!t.tolerates(&taint("node-role", "x", NoSchedule)));
    }

    #[test]
    fn exists_ignores_the_value() {
        let t = toleration("dedicated", Exists, "", Some(NoExecute));
        assert!(t.tolerates(&taint("dedicated", "gpu", NoExecute)));
        assert!(t.tolerates(&taint("dedicated", "", NoExecute)));
        assert!(!t.tolerates(&taint("dedicated", "gpu", NoSchedule)));
        assert!(!t.tolerates(&taint("other", "gpu", NoExecute)));
    }

    #[test]
    fn empty_effect_matches_every_effect() {
        let t = toleration("k", Equal, "v", None);
        for effect in TaintEffect::ALL {
            assert!(t.tolerates(&taint("k", "v", *effect)), "{effect}");
        }
        assert!(!t.tolerates(&taint("k", "w", PreferNoSchedule)));
    }

    #[test]
    fn empty_key_with_exists_matches_everything() {
        let t = toleration("", Exists, "", None);
        for effect in TaintEffect::ALL {
            assert!(t.tolerates(&taint("any", "thing", *effect)));
            assert!(t.tolerates(&taint("node.kubernetes.io/not-ready", "", *effect)));
        }
        let t = toleration("", Exists, "", Some(NoExecute));
        assert!(t.tolerates(&taint("any", "", NoExecute)));
        assert!(!t.tolerates(&taint("any", "", NoSchedule)));
    }

    #[test]
    fn serde_shape() {
        let t: Toleration =
            serde_json::from_str(r#"{"key":"CriticalAddonsOnly","operator":"Exists"}"#).unwrap();
        assert_eq!(t, toleration("CriticalAddonsOnly", Exists, "", None));
        let t: Toleration = serde_json::from_str(
            r#"{"key":"node.kubernetes.io/unreachable","effect":"NoExecute","tolerationSeconds":300}"#,
        )
        .unwrap();
        assert_eq!(t.operator, Equal, "Equal by default");
        assert_eq!(t.toleration_seconds, Some(300));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"key":"node.kubernetes.io/unreachable","operator":"Equal","effect":"NoExecute","tolerationSeconds":300}"#
        );
        let err = serde_json::from_str::<Toleration>(r#"{"operator":"Within"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"Unsupported value: "Within": supported values: "Equal", "Exists""#),
            "{err}"
        );
        assert!(serde_json::from_str::<Toleration>(r#"{"keys":"x"}"#).is_err());

        let taint: Taint = serde_json::from_str(
            r#"{"key":"node.kubernetes.io/unreachable","effect":"NoExecute","timeAdded":"2024-05-01T12:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(taint.effect, NoExecute);
        assert_eq!(
            taint.to_string(),
            "node.kubernetes.io/unreachable:NoExecute"
        );
        let taint: Taint = serde_json::from_str(r#"{"key":"dedicated","value":"gpu"}"#).unwrap();
        assert_eq!(taint.effect, NoSchedule, "NoSchedule by default");
        assert_eq!(taint.to_string(), "dedicated=gpu:NoSchedule");
        assert_eq!(
            serde_json::to_string(&taint).unwrap(),
            r#"{"key":"dedicated","value":"gpu","effect":"NoSchedule"}"#
        );
    }
}
