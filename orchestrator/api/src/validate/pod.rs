//! Pod checks: containers, ports, environment, resources, probes, volumes,
//! tolerations.

use std::collections::{BTreeMap, BTreeSet};

use crate::container::{
    Container, EnvVar, ResourceRequirements, SUPPORTED_FIELD_PATHS, SUPPORTED_RESOURCES,
};
use crate::intstr::IntOrString;
use crate::pod::{Pod, PodSpec};
use crate::probe::Probe;
use crate::validate::meta::validate_labels;
use crate::validate::taint::validate_tolerations;
use crate::validate::{FieldError, FieldErrors, FieldPath, names, non_negative, port_number};
use crate::volume::{KeyToPath, Volume};

/// Checks a Pod.
pub(crate) fn validate_pod(pod: &Pod, errs: &mut FieldErrors) {
    validate_pod_spec(&pod.spec, &FieldPath::new("spec"), errs);
}

/// Checks a pod spec at `path` (`spec`, `spec.template.spec`).
pub(crate) fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, errs: &mut FieldErrors) {
    let volumes = validate_volumes(&spec.volumes, &path.child("volumes"), errs);
    let containers = path.child("containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&containers, ""));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let p = containers.index(i);
        if !c.name.is_empty() && !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
        validate_container(c, &volumes, &p, errs);
    }
    non_negative(
        spec.termination_grace_period_seconds,
        &path.child("terminationGracePeriodSeconds"),
        errs,
    );
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if !value.is_empty() {
            errs.invalid_each(&path.child(field), value, names::dns1123_label(value));
        }
    }
    if !spec.node_name.is_empty() {
        errs.invalid_each(
            &path.child("nodeName"),
            &spec.node_name,
            names::dns1123_subdomain(&spec.node_name),
        );
    }
    validate_labels(&spec.node_selector, &path.child("nodeSelector"), errs);
    validate_tolerations(&spec.tolerations, &path.child("tolerations"), errs);
}

/// Checks volumes; returns their names.
fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &FieldPath,
    errs: &mut FieldErrors,
) -> BTreeSet<&'a str> {
    let mut names_seen = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        if v.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            errs.invalid_each(&p.child("name"), &v.name, names::dns1123_label(&v.name));
            if !names_seen.insert(v.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), v.name.as_str()));
            }
        }
        let sources: Vec<&str> = [
            ("emptyDir", v.empty_dir.is_some()),
            ("configMap", v.config_map.is_some()),
            ("secret", v.secret.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n)
        .collect();
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&p, "must specify a volume type")),
            [_] => {}
            [_, second, ..] => errs.push(FieldError::forbidden(
                &p.child(second),
                "may not specify more than 1 volume type",
            )),
        }
        if let Some(e) = &v.empty_dir
            && let Some(limit) = &e.size_limit
            && limit.is_negative()
        {
            errs.push(FieldError::invalid(
                &p.child("emptyDir").child("sizeLimit"),
                limit.as_str(),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(c) = &v.config_map {
            let cp = p.child("configMap");
            validate_object_name(&c.name, &cp.child("name"), errs);
            validate_projection(&c.items, c.default_mode, &cp, errs);
        }
        if let Some(s) = &v.secret {
            let sp = p.child("secret");
            validate_object_name(&s.secret_name, &sp.child("secretName"), errs);
            validate_projection(&s.items, s.default_mode, &sp, errs);
        }
    }
    names_seen
}

/// A reference to a ConfigMap or Secret by name: required, a subdomain.
fn validate_object_name(name: &str, path: &FieldPath, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else {
        errs.invalid_each(path, name, names::dns1123_subdomain(name));
    }
}

const MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn validate_mode(mode: Option<i32>, path: &FieldPath, errs: &mut FieldErrors) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(path, m, MODE_MSG));
    }
}

fn validate_projection(
    items: &[KeyToPath],
    default_mode: Option<i32>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    validate_mode(default_mode, &path.child("defaultMode"), errs);
    for (i, item) in items.iter().enumerate() {
        let p = path.child("items").index(i);
        if item.key.is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        } else {
            errs.invalid_each(&p.child("key"), &item.key, names::config_key(&item.key));
        }
        if item.path.is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        } else {
            errs.invalid_each(
                &p.child("path"),
                &item.path,
                names::relative_path(&item.path),
            );
        }
        validate_mode(item.mode, &p.child("mode"), errs);
    }
}

fn validate_container(
    c: &Container,
    volumes: &BTreeSet<&str>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    if c.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        errs.invalid_each(&path.child("name"), &c.name, names::dns1123_label(&c.name));
    }
    if c.image.trim().is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    let mut port_names = BTreeSet::new();
    for (i, port) in c.ports.iter().enumerate() {
        let p = path.child("ports").index(i);
        if !port.name.is_empty() {
            errs.invalid_each(&p.child("name"), &port.name, names::port_name(&port.name));
            if !port_names.insert(port.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), port.name.as_str()));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            port_number(port.container_port, &p.child("containerPort"), errs);
        }
    }
    for (i, e) in c.env.iter().enumerate() {
        validate_env_var(e, &path.child("env").index(i), errs);
    }
    for (i, e) in c.env_from.iter().enumerate() {
        let p = path.child("envFrom").index(i);
        if !e.prefix.is_empty() {
            errs.invalid_each(
                &p.child("prefix"),
                &e.prefix,
                names::env_var_name(&e.prefix),
            );
        }
        match (&e.config_map_ref, &e.secret_ref) {
            (None, None) => errs.push(FieldError::invalid(
                &p,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            )),
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                "",
                "may not have more than one field specified at a time",
            )),
            (Some(r), None) => {
                validate_object_name(&r.name, &p.child("configMapRef").child("name"), errs)
            }
            (None, Some(r)) => {
                validate_object_name(&r.name, &p.child("secretRef").child("name"), errs)
            }
        }
    }
    validate_resources(&c.resources, &path.child("resources"), errs);
    let mut mount_paths = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let p = path.child("volumeMounts").index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(&p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        if !m.sub_path.is_empty() {
            errs.invalid_each(
                &p.child("subPath"),
                &m.sub_path,
                names::relative_path(&m.sub_path),
            );
        }
    }
    if let Some(probe) = &c.liveness_probe {
        validate_probe(probe, c, true, &path.child("livenessProbe"), errs);
    }
    if let Some(probe) = &c.readiness_probe {
        validate_probe(probe, c, false, &path.child("readinessProbe"), errs);
    }
}

fn validate_env_var(e: &EnvVar, path: &FieldPath, errs: &mut FieldErrors) {
    if e.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        errs.invalid_each(&path.child("name"), &e.name, names::env_var_name(&e.name));
    }
    let Some(from) = &e.value_from else {
        return;
    };
    let p = path.child("valueFrom");
    let count = [
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
        from.field_ref.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    match count {
        0 => errs.push(FieldError::invalid(
            &p,
            "",
            "must specify one of: `fieldRef`, `configMapKeyRef` or `secretKeyRef`",
        )),
        1 => {}
        _ => errs.push(FieldError::invalid(
            &p,
            "",
            "may not have more than one field specified at a time",
        )),
    }
    if !e.value.is_empty() {
        errs.push(FieldError::invalid(
            &p,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    for (field, sel) in [
        ("configMapKeyRef", &from.config_map_key_ref),
        ("secretKeyRef", &from.secret_key_ref),
    ] {
        if let Some(sel) = sel {
            let sp = p.child(field);
            validate_object_name(&sel.name, &sp.child("name"), errs);
            if sel.key.is_empty() {
                errs.push(FieldError::required(&sp.child("key"), ""));
            } else {
                errs.invalid_each(&sp.child("key"), &sel.key, names::config_key(&sel.key));
            }
        }
    }
    if let Some(f) = &from.field_ref {
        let fp = p.child("fieldRef");
        if !f.api_version.is_empty() && f.api_version != "v1" {
            errs.push(FieldError::not_supported(
                &fp.child("apiVersion"),
                f.api_version.as_str(),
                &["v1"],
            ));
        }
        validate_field_path(&f.field_path, &fp.child("fieldPath"), errs);
    }
}

/// `metadata.name`, ..., or `metadata.labels['key']`.
fn validate_field_path(field_path: &str, path: &FieldPath, errs: &mut FieldErrors) {
    if field_path.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    for prefix in ["metadata.labels", "metadata.annotations"] {
        if let Some(sub) = field_path.strip_prefix(prefix)
            && sub.starts_with('[')
        {
            match sub.strip_prefix("['").and_then(|s| s.strip_suffix("']")) {
                Some(key) => errs.invalid_each(path, key, names::qualified_name(key)),
                None => errs.push(FieldError::invalid(
                    path,
                    field_path,
                    "error converting fieldPath: invalid subscript",
                )),
            }
            return;
        }
    }
    if !SUPPORTED_FIELD_PATHS.contains(&field_path) {
        errs.push(FieldError::not_supported(
            path,
            field_path,
            SUPPORTED_FIELD_PATHS,
        ));
    }
}

fn validate_resources(r: &ResourceRequirements, path: &FieldPath, errs: &mut FieldErrors) {
    for (field, map) in [("limits", &r.limits), ("requests", &r.requests)] {
        let p = path.child(field);
        for (name, q) in map {
            if !SUPPORTED_RESOURCES.contains(&name.as_str()) {
                errs.push(FieldError::not_supported(
                    &p.key(name),
                    name.as_str(),
                    SUPPORTED_RESOURCES,
                ));
            }
            if q.is_negative() {
                errs.push(FieldError::invalid(
                    &p.key(name),
                    q.as_str(),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    let limits: &BTreeMap<_, _> = &r.limits;
    for (name, request) in &r.requests {
        if let Some(limit) = limits.get(name)
            && request > limit
        {
            errs.push(FieldError::invalid(
                &path.child("requests").key(name),
                request.as_str(),
                format!("must be less than or equal to {name} limit of {limit}"),
            ));
        }
    }
}

/// A port given as a number (1–65535) or as an IANA service name.
pub(crate) fn validate_port_num_or_name(
    port: &IntOrString,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    match port {
        IntOrString::Int(n) => port_number(*n, path, errs),
        IntOrString::String(s) => errs.invalid_each(path, s, names::port_name(s)),
    }
}

fn validate_probe(
    probe: &Probe,
    c: &Container,
    liveness: bool,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    let handlers: Vec<&str> = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(n, _)| n)
    .collect();
    match handlers.as_slice() {
        [] => errs.push(FieldError::required(path, "must specify a handler type")),
        [_] => {}
        [_, second, ..] => errs.push(FieldError::forbidden(
            &path.child(second),
            "may not specify more than 1 handler type",
        )),
    }
    if let Some(e) = &probe.exec
        && e.command.is_empty()
    {
        errs.push(FieldError::required(
            &path.child("exec").child("command"),
            "",
        ));
    }
    if let Some(h) = &probe.http_get {
        validate_probe_port(&h.port, c, &path.child("httpGet").child("port"), errs);
        for (i, header) in h.http_headers.iter().enumerate() {
            let ok = !header.name.is_empty()
                && header
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                errs.push(FieldError::invalid(
                    &path.child("httpGet").child("httpHeaders").index(i).child("name"),
                    header.name.as_str(),
                    "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
                ));
            }
        }
    }
    if let Some(t) = &probe.tcp_socket {
        validate_probe_port(&t.port, c, &path.child("tcpSocket").child("port"), errs);
    }
    for (field, value) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        non_negative(i64::from(value), &path.child(field), errs);
    }
    if liveness && probe.success_threshold != 1 {
        errs.push(FieldError::invalid(
            &path.child("successThreshold"),
            probe.success_threshold,
            "must be 1",
        ));
    }
}

/// A probe's port: a number, or the name of one of the container's ports.
fn validate_probe_port(
    port: &IntOrString,
    c: &Container,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    validate_port_num_or_name(port, path, errs);
    if let IntOrString::String(name) = port
        && names::port_name(name).is_empty()
        && c.port_named(name).is_none()
    {
        errs.push(FieldError::not_found(path, name.as_str()));
    }
}
