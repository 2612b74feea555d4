use super::*;
use crate::validate::FieldError;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

#[test]
fn matching() {
    let web = labels(&[("app", "web"), ("tier", "front")]);
    let db = labels(&[("app", "db")]);
    let s = LabelSelector::from_labels([("app", "web")]);
    assert!(s.matches(&web));
    assert!(!s.matches(&db));
    assert!(LabelSelector::default().matches(&db));

    let s = LabelSelector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![
            req("app", SelectorOperator::In, &["web", "api"]),
            req("tier", SelectorOperator::NotIn, &["back"]),
            req("tier", SelectorOperator::Exists, &[]),
            req("canary", SelectorOperator::DoesNotExist, &[]),
        ],
    };
    assert!(s.matches(&web));
    assert!(!s.matches(&db));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back")])));
    assert!(!s.matches(&labels(&[
        ("app", "web"),
        ("tier", "front"),
        ("canary", "1")
    ])));
    assert_eq!(
        s.to_string(),
        "app in (web,api),tier notin (back),tier,!canary"
    );
    assert!(req("x", SelectorOperator::NotIn, &["a"]).matches(&db));
    assert!(labels_match(&labels(&[("app", "db")]), &db));
    assert!(!labels_match(&labels(&[("app", "web")]), &db));
}

#[test]
fn string_forms_match() {
    let web = labels(&[("app", "web"), ("tier", "fe"), ("env", "prod")]);
    for (sel, want) in [
        ("", true),
        ("app=web", true),
        ("app==web,tier=fe", true),
        ("app = web , tier = fe", true),
        ("app!=web", false),
        ("app!=db", true),
        ("tier", true),
        ("!tier", false),
        ("!db", true),
        ("app=db", false),
        ("env in (prod,qa)", true),
        ("env in (qa)", false),
        ("env notin (prod)", false),
        ("env notin (qa, dev)", true),
        ("missing notin (x)", true),
        ("missing in (x)", false),
        ("app=web,app=db", false),
        (
            "a=b,c!=d,env in (prod,qa),tier notin (x),app,!missing",
            false,
        ),
        (
            "app=web,c!=d,env in (prod,qa),tier notin (x),app,!missing",
            true,
        ),
    ] {
        assert_eq!(parse(sel).unwrap().matches(&web), want, "{sel}");
    }
}

#[test]
fn string_forms_build_the_model() {
    let s: LabelSelector = "app=web,env in (prod,qa),tier notin (x),has,!missing,app=api"
        .parse()
        .unwrap();
    assert_eq!(s.match_labels, labels(&[("app", "web")]));
    assert_eq!(
        s.match_expressions,
        vec![
            req("env", SelectorOperator::In, &["prod", "qa"]),
            req("tier", SelectorOperator::NotIn, &["x"]),
            req("has", SelectorOperator::Exists, &[]),
            req("missing", SelectorOperator::DoesNotExist, &[]),
            req("app", SelectorOperator::In, &["api"]),
        ]
    );
    assert_eq!(
        s.to_string(),
        "app=web,env in (prod,qa),tier notin (x),has,!missing,app in (api)"
    );
    assert_eq!(parse(&s.to_string()).unwrap(), s);
    assert_eq!(parse("a=").unwrap().match_labels, labels(&[("a", "")]));
    assert_eq!(
        parse("a!=b").unwrap().match_expressions,
        vec![req("a", SelectorOperator::NotIn, &["b"])]
    );
}

#[test]
fn string_form_errors() {
    for (sel, want) in [
        (
            "app=web,=x",
            r#"unable to parse label selector "app=web,=x": found "=", expected a label key"#,
        ),
        (
            "env in prod",
            r#"unable to parse label selector "env in prod": found "prod", expected "(""#,
        ),
        (
            "env in (a b)",
            r#"unable to parse label selector "env in (a b)": found "b", expected "," or ")""#,
        ),
        (
            "env in (a",
            r#"unable to parse label selector "env in (a": found end of string, expected "," or ")""#,
        ),
        (
            "env within (a)",
            r#"unable to parse label selector "env within (a)": found "within", expected one of "=", "==", "!=", "in", "notin", "," or end of string"#,
        ),
        (
            "app=web,",
            r#"unable to parse label selector "app=web,": found end of string, expected a label key"#,
        ),
        (
            "!a=b",
            r#"unable to parse label selector "!a=b": found "=", expected "," or end of string"#,
        ),
        (
            "a,env in ()",
            r#"invalid label selector "a,env in ()": labelSelector[1].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"#,
        ),
    ] {
        assert_eq!(parse(sel).unwrap_err().to_string(), want, "{sel}");
    }
    let SelectorError::Invalid { errors, .. } = parse("-a=b,c in (x,y_)").unwrap_err() else {
        panic!("not a validation error");
    };
    let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["labelSelector[0].key", "labelSelector[1].values[1]"]
    );
    assert!(
        errors
            .errors()
            .iter()
            .all(|e: &FieldError| e.value.is_some())
    );
}
