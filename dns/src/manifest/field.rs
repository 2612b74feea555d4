//! Reading fields of a YAML object with their paths, for errors that name
//! the field and the value.

use serde_yaml_ng::Value;

use super::FieldError;

/// An object (mapping) at a path.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Obj<'a> {
    pub(crate) fn root(value: &'a Value) -> Result<Self, FieldError> {
        if value.is_mapping() {
            Ok(Self {
                value,
                path: String::new(),
            })
        } else {
            Err(FieldError::invalid(
                "<document>",
                value,
                "must be an object",
            ))
        }
    }

    /// The path of `key` under this object.
    pub(crate) fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// A required string.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, FieldError> {
        self.opt_str(key)?
            .ok_or_else(|| FieldError::required(self.path(key), "must be set"))
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(FieldError::invalid(self.path(key), v, "must be a string")),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(FieldError::invalid(
                self.path(key),
                v,
                "must be true or false",
            )),
        }
    }

    /// An optional integer.
    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<(i64, &'a Value)>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(|n| Some((n, v)))
                .ok_or_else(|| FieldError::invalid(self.path(key), v, "must be an integer")),
        }
    }

    /// An optional nested object.
    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_mapping() => Ok(Some(Obj {
                value: v,
                path: self.path(key),
            })),
            Some(v) => Err(FieldError::invalid(self.path(key), v, "must be an object")),
        }
    }

    /// The elements of an optional list, each an object with its
    /// `key[i]` path.
    pub(crate) fn list(
        &self,
        key: &str,
    ) -> Result<impl Iterator<Item = Result<Obj<'a>, FieldError>> + 'a, FieldError> {
        let items: &'a [Value] = match self.get(key) {
            None => &[],
            Some(Value::Sequence(s)) => s,
            Some(v) => return Err(FieldError::invalid(self.path(key), v, "must be a list")),
        };
        let base = self.path(key);
        Ok(items.iter().enumerate().map(move |(i, v)| {
            let path = format!("{base}[{i}]");
            if v.is_mapping() {
                Ok(Obj { value: v, path })
            } else {
                Err(FieldError::invalid(path, v, "must be an object"))
            }
        }))
    }

    /// The strings of an optional list, with their paths.
    pub(crate) fn str_list(&self, key: &str) -> Result<Vec<(String, &'a Value)>, FieldError> {
        let items: &'a [Value] = match self.get(key) {
            None => &[],
            Some(Value::Sequence(s)) => s,
            Some(v) => return Err(FieldError::invalid(self.path(key), v, "must be a list")),
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{}[{i}]", self.path(key)), v))
            .collect())
    }
}

/// metadata.name and metadata.namespace (default `default`).
#[derive(Debug)]
pub(crate) struct Meta<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) labels: Option<Obj<'a>>,
}

impl<'a> Meta<'a> {
    pub(crate) fn read(obj: &Obj<'a>) -> Result<Self, FieldError> {
        let meta = obj
            .opt_obj("metadata")?
            .ok_or_else(|| FieldError::required(obj.path("metadata"), "must be set"))?;
        Ok(Self {
            name: meta.str("name")?,
            namespace: meta.opt_str("namespace")?.unwrap_or("default"),
            labels: meta.opt_obj("labels")?,
        })
    }
}

/// An IP address field.
pub(crate) fn ip(path: &str, v: &Value) -> Result<std::net::IpAddr, FieldError> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| FieldError::invalid(path, v, "must be a valid IP address"))
}
