//! A pod's volumes on the node: `emptyDir` directories, and `configMap` /
//! `secret` files written from the objects (all keys, or `items`, with
//! their modes), under `<state>/pods/<uid>/volumes/`, removed with the pod.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use berth_api::Pod;
use berth_api::volume::KeyToPath;

use crate::runtime::MountSpec;

/// Errors preparing volumes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A file or directory could not be made.
    #[error("volume {volume:?}: {action} {path}")]
    Io {
        /// The volume.
        volume: String,
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A ConfigMap or Secret (or a key of it) is missing.
    #[error("volume {volume:?}: {reason}")]
    Missing {
        /// The volume.
        volume: String,
        /// What is missing.
        reason: String,
    },
}

/// The data volumes read: ConfigMap and Secret data by name (Secrets
/// decoded).
#[derive(Debug, Clone, Default)]
pub struct VolumeSources {
    /// ConfigMap name → key → bytes.
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Secret name → key → bytes.
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// The directory of a pod's volumes.
pub fn pod_dir(state: &Path, uid: &str) -> PathBuf {
    state.join("pods").join(uid)
}

fn io(
    volume: &str,
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> VolumeError {
    let (volume, path) = (volume.to_owned(), path.to_owned());
    move |source| VolumeError::Io {
        volume,
        action,
        path,
        source,
    }
}

fn write_files(
    volume: &str,
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: &[KeyToPath],
    default_mode: u32,
) -> Result<(), VolumeError> {
    std::fs::create_dir_all(dir).map_err(io(volume, "creating", dir))?;
    let files: Vec<(String, &Vec<u8>, u32)> = if items.is_empty() {
        data.iter()
            .map(|(k, v)| (k.clone(), v, default_mode))
            .collect()
    } else {
        let mut out = Vec::new();
        for it in items {
            let v = data.get(&it.key).ok_or_else(|| VolumeError::Missing {
                volume: volume.to_owned(),
                reason: format!("key {:?} not found", it.key),
            })?;
            let mode = it.mode.map(|m| m as u32).unwrap_or(default_mode);
            out.push((it.path.clone(), v, mode));
        }
        out
    };
    for (rel, bytes, mode) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(volume, "creating", parent))?;
        }
        let tmp = path.with_extension("berth-tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io(volume, "writing", &tmp))?;
        f.write_all(bytes).map_err(io(volume, "writing", &tmp))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(io(volume, "setting the mode of", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(volume, "renaming", &path))?;
    }
    Ok(())
}

/// Makes every volume of `pod`; returns each volume's directory by name.
pub fn prepare(
    pod: &Pod,
    state: &Path,
    sources: &VolumeSources,
) -> Result<BTreeMap<String, (PathBuf, bool)>, VolumeError> {
    let base = pod_dir(state, &pod.metadata.uid).join("volumes");
    let mut out = BTreeMap::new();
    for v in &pod.spec.volumes {
        let name = v.name.as_str();
        if v.empty_dir.is_some() {
            let dir = base.join("empty-dir").join(name);
            std::fs::create_dir_all(&dir).map_err(io(name, "creating", &dir))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io(
                name,
                "setting the mode of",
                &dir,
            ))?;
            out.insert(name.to_owned(), (dir, false));
        } else if let Some(cm) = &v.config_map {
            let dir = base.join("configmap").join(name);
            match sources.config_maps.get(&cm.name) {
                Some(data) => write_files(
                    name,
                    &dir,
                    data,
                    &cm.items,
                    cm.default_mode.unwrap_or(0o644) as u32,
                )?,
                None if cm.optional == Some(true) => {
                    std::fs::create_dir_all(&dir).map_err(io(name, "creating", &dir))?
                }
                None => {
                    return Err(VolumeError::Missing {
                        volume: name.to_owned(),
                        reason: format!("configmap {:?} not found", cm.name),
                    });
                }
            }
            out.insert(name.to_owned(), (dir, true));
        } else if let Some(s) = &v.secret {
            let dir = base.join("secret").join(name);
            match sources.secrets.get(&s.secret_name) {
                Some(data) => write_files(
                    name,
                    &dir,
                    data,
                    &s.items,
                    s.default_mode.unwrap_or(0o644) as u32,
                )?,
                None if s.optional == Some(true) => {
                    std::fs::create_dir_all(&dir).map_err(io(name, "creating", &dir))?
                }
                None => {
                    return Err(VolumeError::Missing {
                        volume: name.to_owned(),
                        reason: format!("secret {:?} not found", s.secret_name),
                    });
                }
            }
            out.insert(name.to_owned(), (dir, true));
        }
    }
    Ok(out)
}

/// The mounts of container `index` from the prepared volumes.
pub fn mounts(
    pod: &Pod,
    index: usize,
    volumes: &BTreeMap<String, (PathBuf, bool)>,
) -> Vec<MountSpec> {
    let c = &pod.spec.containers[index];
    c.volume_mounts
        .iter()
        .filter_map(|m| {
            let (dir, ro) = volumes.get(&m.name)?;
            let host = if m.sub_path.is_empty() {
                dir.clone()
            } else {
                dir.join(&m.sub_path)
            };
            Some(MountSpec {
                host_path: host,
                container_path: m.mount_path.clone(),
                readonly: m.read_only || *ro,
            })
        })
        .collect()
}

/// Removes the pod's directory.
pub fn remove(state: &Path, uid: &str) {
    let dir = pod_dir(state, uid);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %dir.display(), error = %e, "removing a pod's volumes");
    }
}

#[cfg(test)]
mod tests {
    use berth_api::container::VolumeMount;
    use berth_api::volume::{ConfigMapVolumeSource, EmptyDirVolumeSource, Volume};

    use super::*;

    #[test]
    fn config_map_items_modes_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let mut pod = Pod::default();
        pod.metadata.uid = "u1".into();
        pod.spec.volumes = vec![
            Volume {
                name: "cache".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
            Volume {
                name: "conf".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "app".into(),
                    items: vec![KeyToPath {
                        key: "a".into(),
                        path: "sub/a.conf".into(),
                        mode: Some(0o600),
                    }],
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
        ];
        pod.spec.containers.push(berth_api::Container {
            volume_mounts: vec![
                VolumeMount {
                    name: "conf".into(),
                    mount_path: "/etc/app".into(),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: "cache".into(),
                    mount_path: "/cache".into(),
                    ..VolumeMount::default()
                },
            ],
            ..Default::default()
        });
        let mut sources = VolumeSources::default();
        let e = prepare(&pod, dir.path(), &sources).unwrap_err();
        assert_eq!(
            e.to_string(),
            "volume \"conf\": configmap \"app\" not found"
        );
        sources.config_maps.insert(
            "app".into(),
            BTreeMap::from([("a".to_string(), b"x=1".to_vec())]),
        );
        let vols = prepare(&pod, dir.path(), &sources).unwrap();
        let file = vols["conf"].0.join("sub/a.conf");
        assert_eq!(std::fs::read(&file).unwrap(), b"x=1");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let m = mounts(&pod, 0, &vols);
        assert!(m[0].readonly && !m[1].readonly);
        remove(dir.path(), "u1");
        assert!(!pod_dir(dir.path(), "u1").exists());
    }
}
