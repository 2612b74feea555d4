//! ConfigMap and Secret checks: keys, sizes, required keys of Secret types.

use std::collections::BTreeMap;

use crate::bytes::Bytes;
use crate::configmap::{ConfigMap, MAX_DATA_BYTES};
use crate::secret::{
    SECRET_TYPE_BASIC_AUTH, SECRET_TYPE_DOCKER_CONFIG_JSON, SECRET_TYPE_SSH_AUTH, SECRET_TYPE_TLS,
    Secret,
};
use crate::validate::{FieldError, FieldErrors, FieldPath, names};

fn validate_keys<'a>(
    keys: impl Iterator<Item = &'a String>,
    path: &FieldPath,
    errs: &mut FieldErrors,
) {
    for key in keys {
        errs.invalid_each(&path.key(key), key, names::config_key(key));
    }
}

/// Checks a ConfigMap.
pub(crate) fn validate_config_map(cm: &ConfigMap, errs: &mut FieldErrors) {
    let data = FieldPath::new("data");
    let binary = FieldPath::new("binaryData");
    validate_keys(cm.data.keys(), &data, errs);
    validate_keys(cm.binary_data.keys(), &binary, errs);
    for key in cm.binary_data.keys() {
        if cm.data.contains_key(key) {
            errs.push(FieldError::invalid(
                &binary.key(key),
                key.as_str(),
                "duplicate of key present in data",
            ));
        }
    }
    let size: usize = cm
        .data
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum::<usize>()
        + cm.binary_data
            .iter()
            .map(|(k, v)| k.len() + v.0.len())
            .sum::<usize>();
    if size > MAX_DATA_BYTES {
        errs.push(FieldError::too_long(&data, MAX_DATA_BYTES));
    }
}

fn require_key(data: &BTreeMap<String, Bytes>, key: &str, errs: &mut FieldErrors) {
    if !data.contains_key(key) {
        errs.push(FieldError::required(&FieldPath::new("data").key(key), ""));
    }
}

/// Checks a Secret (after `stringData` is merged into `data`).
pub(crate) fn validate_secret(secret: &Secret, errs: &mut FieldErrors) {
    let data = FieldPath::new("data");
    validate_keys(secret.data.keys(), &data, errs);
    validate_keys(
        secret.string_data.keys(),
        &FieldPath::new("stringData"),
        errs,
    );
    let size: usize = secret
        .data
        .iter()
        .map(|(k, v)| k.len() + v.0.len())
        .sum::<usize>()
        + secret
            .string_data
            .iter()
            .map(|(k, v)| k.len() + v.0.len())
            .sum::<usize>();
    if size > MAX_DATA_BYTES {
        errs.push(FieldError::too_long(&data, MAX_DATA_BYTES));
    }
    let mut all = secret.data.clone();
    for (k, v) in &secret.string_data {
        all.insert(k.clone(), Bytes(v.0.clone().into_bytes()));
    }
    match secret.type_.as_str() {
        SECRET_TYPE_TLS => {
            require_key(&all, "tls.crt", errs);
            require_key(&all, "tls.key", errs);
        }
        SECRET_TYPE_SSH_AUTH => require_key(&all, "ssh-privatekey", errs),
        SECRET_TYPE_BASIC_AUTH
            if !all.contains_key("username") && !all.contains_key("password") =>
        {
            errs.push(FieldError::required(
                &data.key("username"),
                "either username or password must be specified",
            ));
        }
        SECRET_TYPE_DOCKER_CONFIG_JSON => {
            let key = ".dockerconfigjson";
            match all.get(key) {
                None => require_key(&all, key, errs),
                Some(v) => {
                    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&v.0) {
                        errs.push(FieldError::invalid(
                            &data.key(key),
                            "<secret contents redacted>",
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
}
