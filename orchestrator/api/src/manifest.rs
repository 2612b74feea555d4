//! Manifests as users write them: multi-document YAML, JSON (one object or
//! a stream), `kind: List`, files, directories and standard input.
//!
//! Every object is decoded ([`crate::decode::decode_manifest`]: unknown
//! fields and unsupported ones are errors, tolerated ones are dropped),
//! defaulted ([`Object::apply_defaults`]) and validated
//! ([`Object::validate`]). All errors of all documents are reported
//! together, each with where it comes from:
//!
//! ```text
//! deploy.yaml document 2 (Deployment default/web): spec.template.spec.containers[0].imagePullPolcy: unknown field (did you mean "imagePullPolicy"?)
//! ```

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::decode::{self, ObjectError};
use crate::kind::Kind;
use crate::object::Object;
use crate::resource::DEFAULT_NAMESPACE;
use crate::validate::{FieldError, FieldErrors};

/// The source name used for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// File extensions read from directories.
pub const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// How manifests are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// The namespace asked for (`-n`): objects without one get it, objects
    /// with another one are an error. `None`: objects without a namespace
    /// get `default`.
    pub namespace: Option<String>,
    /// Read directories recursively (`-R`).
    pub recursive: bool,
    /// Validate objects (after defaulting).
    pub validate: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            recursive: false,
            validate: true,
        }
    }
}

/// Where an object comes from: a source (file name or `<stdin>`), a
/// document in it (from 1), and an item of a `kind: List` (from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file name, or `<stdin>`, or the name given to [`parse_str`].
    pub source: String,
    /// The document, counting from 1 (YAML documents are separated by `---`).
    pub document: usize,
    /// The item of a `kind: List` document, counting from 0.
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} document {}", self.source, self.document)?;
        if let Some(i) = self.item {
            write!(f, " items[{i}]")?;
        }
        Ok(())
    }
}

/// An object read from a manifest, defaulted and (unless disabled)
/// validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The object.
    pub object: Object,
    /// Where it comes from.
    pub origin: Origin,
    /// Fields dropped and things accepted but not served, to show the user.
    pub warnings: Vec<String>,
}

/// One problem in the manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Standard input could not be read.
    #[error("reading {STDIN_NAME}")]
    Stdin {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not parse (the rest of the source is not read).
    #[error("{source_name}: YAML syntax error")]
    Yaml {
        /// The source.
        source_name: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The JSON does not parse (the rest of the source is not read).
    #[error("{source_name}: JSON syntax error")]
    Json {
        /// The source.
        source_name: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A document is not a valid object.
    #[error("{origin}{}", object.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Object {
        /// Where it is.
        origin: Origin,
        /// What it is, as far as known: `Deployment default/web`.
        object: Option<String>,
        /// What is wrong.
        #[source]
        source: Box<ObjectError>,
    },
}

/// Every problem found in the manifests. Prints one problem per line, each
/// with its causes (`origin (object): cause`).
#[derive(Debug, Default)]
pub struct ManifestErrors(Vec<ManifestError>);

impl ManifestErrors {
    /// The problems.
    pub fn errors(&self) -> &[ManifestError] {
        &self.0
    }

    /// The problems, owned.
    pub fn into_errors(self) -> Vec<ManifestError> {
        self.0
    }
}

impl From<ManifestError> for ManifestErrors {
    fn from(e: ManifestError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&crate::error_chain(e))?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

/// Reads `-f` arguments as kubectl does: `-` is standard input, a directory
/// is read for `*.yaml`, `*.yml` and `*.json`, anything else is a file.
pub fn read(arg: &str, opts: &ParseOptions) -> Result<Vec<Document>, ManifestErrors> {
    if arg == "-" {
        read_stdin(opts)
    } else {
        read_path(Path::new(arg), opts)
    }
}

/// Reads standard input.
pub fn read_stdin(opts: &ParseOptions) -> Result<Vec<Document>, ManifestErrors> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut text)
        .map_err(|source| ManifestError::Stdin { source })?;
    parse_str(&text, STDIN_NAME, opts)
}

/// Reads a file, or the manifest files of a directory (sorted by name;
/// subdirectories too when `opts.recursive`).
pub fn read_path(path: &Path, opts: &ParseOptions) -> Result<Vec<Document>, ManifestErrors> {
    let meta = std::fs::metadata(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return read_file(path, opts);
    }
    let mut files = Vec::new();
    list_dir(path, opts.recursive, &mut files)?;
    let mut docs = Vec::new();
    let mut errors = ManifestErrors::default();
    for file in files {
        match read_file(&file, opts) {
            Ok(d) => docs.extend(d),
            Err(e) => errors.0.extend(e.0),
        }
    }
    if errors.0.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

fn list_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                list_dir(&path, recursive, out)?;
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one file.
pub fn read_file(path: &Path, opts: &ParseOptions) -> Result<Vec<Document>, ManifestErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&text, &path.display().to_string(), opts)
}

/// Parses manifest text. `source_name` names it in errors.
pub fn parse_str(
    text: &str,
    source_name: &str,
    opts: &ParseOptions,
) -> Result<Vec<Document>, ManifestErrors> {
    let mut errors = ManifestErrors::default();
    // What parsed before a syntax error is read too, to report its errors.
    let (values, syntax_error) = split_documents(text, source_name);
    errors.0.extend(syntax_error);
    let mut docs = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let origin = Origin {
            source: source_name.to_owned(),
            document: index + 1,
            item: None,
        };
        match value {
            Ok(Value::Null) => {}
            Ok(value) => read_document(value, origin, opts, &mut docs, &mut errors),
            Err(e) => errors.0.push(ManifestError::Object {
                origin,
                object: None,
                source: Box::new(e),
            }),
        }
    }
    if errors.0.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

type Values = Vec<Result<Value, ObjectError>>;

/// Splits text into document values: a JSON stream when it starts with
/// `{`, else YAML documents. A syntax error ends the list.
fn split_documents(text: &str, source_name: &str) -> (Values, Option<ManifestError>) {
    let mut values = Vec::new();
    if text.trim_start().starts_with('{') {
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            match v {
                Ok(v) => values.push(Ok(v)),
                Err(source) => {
                    let e = ManifestError::Json {
                        source_name: source_name.to_owned(),
                        source,
                    };
                    return (values, Some(e));
                }
            }
        }
        return (values, None);
    }
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        // After an error the iterator repeats it forever: stop at the first.
        let mut yaml = match serde_yaml_ng::Value::deserialize(doc) {
            Ok(v) => v,
            Err(source) => {
                let e = ManifestError::Yaml {
                    source_name: source_name.to_owned(),
                    source,
                };
                return (values, Some(e));
            }
        };
        let converted = yaml
            .apply_merge()
            .map_err(|e| e.to_string())
            .and_then(|()| serde_json::to_value(&yaml).map_err(|e| e.to_string()))
            .map_err(|message| {
                ObjectError::from(FieldErrors::from(FieldError::decode("", message)))
            });
        values.push(converted);
    }
    (values, None)
}

/// `Deployment default/web`, from the raw value, as far as it is known.
fn describe(value: &Value, opts: &ParseOptions) -> Option<String> {
    let kind = value.get("kind")?.as_str()?;
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    let name = name.or_else(|| {
        value
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
    });
    let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str);
    let namespaced = Kind::from_kind_name(kind).is_none_or(Kind::is_namespaced);
    Some(match (name, namespace) {
        (None, _) => kind.to_owned(),
        (Some(n), _) if !namespaced => format!("{kind} {n}"),
        (Some(n), Some(ns)) => format!("{kind} {ns}/{n}"),
        (Some(n), None) => {
            let ns = opts.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
            format!("{kind} {ns}/{n}")
        }
    })
}

/// Whether a document is a list of objects: `kind: List`, or `PodList`
/// and friends as the API returns them.
fn list_item_kind(value: &Value) -> Option<Option<&str>> {
    let kind = value.get("kind")?.as_str()?;
    if kind == "List" {
        return Some(None);
    }
    let item = kind.strip_suffix("List")?;
    Kind::from_kind_name(item)?;
    Some(Some(item))
}

fn read_document(
    value: Value,
    origin: Origin,
    opts: &ParseOptions,
    docs: &mut Vec<Document>,
    errors: &mut ManifestErrors,
) {
    if origin.item.is_none()
        && let Some(item_kind) = list_item_kind(&value)
    {
        let item_kind = item_kind.map(str::to_owned);
        read_list(value, item_kind, origin, opts, docs, errors);
        return;
    }
    let object = describe(&value, opts);
    let fail = |source: ObjectError| ManifestError::Object {
        origin: origin.clone(),
        object: object.clone(),
        source: Box::new(source),
    };
    let decoded = match decode::decode_manifest(value) {
        Ok(d) => d,
        Err(e) => return errors.0.push(fail(e)),
    };
    let mut obj = decoded.object;
    if let Some(ns) = &opts.namespace
        && obj.kind().is_namespaced()
    {
        let meta = obj.metadata_mut();
        if meta.namespace.is_empty() {
            meta.namespace = ns.clone();
        } else if meta.namespace != *ns {
            return errors.0.push(fail(ObjectError::NamespaceMismatch {
                found: meta.namespace.clone(),
                expected: ns.clone(),
            }));
        }
    }
    obj.apply_defaults();
    if opts.validate
        && let Err(e) = obj.validate()
    {
        return errors.0.push(fail(e.into()));
    }
    let mut warnings = decoded.warnings;
    warnings.extend(obj.warnings());
    docs.push(Document {
        object: obj,
        origin,
        warnings,
    });
}

fn read_list(
    mut value: Value,
    item_kind: Option<String>,
    origin: Origin,
    opts: &ParseOptions,
    docs: &mut Vec<Document>,
    errors: &mut ManifestErrors,
) {
    let api_version = value.get("apiVersion").cloned();
    let Value::Object(map) = &mut value else {
        return;
    };
    let mut errs = FieldErrors::new();
    for key in map.keys() {
        if !["apiVersion", "kind", "metadata", "items"].contains(&key.as_str()) {
            errs.push(FieldError::unknown_field(key, None));
        }
    }
    let items = match map.remove("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.push(FieldError::decode("items", "invalid type: expected a list"));
            Vec::new()
        }
    };
    if !errs.is_empty() {
        errors.0.push(ManifestError::Object {
            origin,
            object: None,
            source: Box::new(errs.into()),
        });
        return;
    }
    for (i, mut item) in items.into_iter().enumerate() {
        // Items of a typed list (`PodList`) may leave out apiVersion and kind.
        if let (Some(kind), Value::Object(m)) = (&item_kind, &mut item) {
            if !m.contains_key("kind") {
                m.insert("kind".to_owned(), Value::String(kind.clone()));
            }
            if let Some(v) = &api_version
                && !m.contains_key("apiVersion")
            {
                m.insert("apiVersion".to_owned(), v.clone());
            }
        }
        let item_origin = Origin {
            item: Some(i),
            ..origin.clone()
        };
        if item.is_null() {
            continue;
        }
        read_document(item, item_origin, opts, docs, errors);
    }
}
