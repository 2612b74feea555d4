//! [`ImageBuilder`]: the files of a one-layer image and its configuration.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::ImageError;
use super::reference::normalize;

/// Mode of directories the builder makes for parents of what is added.
pub const PARENT_DIR_MODE: u32 = 0o755;

/// Mode of a binary added with [`ImageBuilder::binary`].
pub const BINARY_MODE: u32 = 0o755;

/// One entry of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A directory.
    Dir {
        /// Permission bits (with setuid/setgid/sticky).
        mode: u32,
    },
    /// A regular file whose content is read from `source` when the archive
    /// is written.
    File {
        /// Permission bits.
        mode: u32,
        /// Where the content is on the host.
        source: PathBuf,
    },
    /// A regular file with the given content.
    Bytes {
        /// Permission bits.
        mode: u32,
        /// The content.
        bytes: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// What it points to, as written.
        target: String,
    },
}

/// A one-layer OCI image under construction: its file tree, kept in
/// lexicographic order of path (so parents precede their children and the
/// archive is the same for the same input), and its configuration.
///
/// Everything in the layer is owned by 0:0 and has mtime 0. Contents of
/// files added from the host are read by [`write`](ImageBuilder::write).
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    pub(crate) reference: String,
    /// Paths relative to `/`, without a leading or trailing `/`.
    pub(crate) entries: BTreeMap<String, Entry>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) working_dir: Option<String>,
}

impl ImageBuilder {
    /// An empty image named `reference`, which is [normalized](normalize)
    /// (`busybox` becomes `docker.io/library/busybox:latest`).
    pub fn new(reference: &str) -> ImageBuilder {
        ImageBuilder {
            reference: normalize(reference),
            entries: BTreeMap::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: None,
        }
    }

    /// The normalized reference the archive will carry.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Adds everything under the host directory `dir` at `/`, recursively:
    /// directories, regular files (with their permission bits) and symbolic
    /// links (as they are, never followed). Anything else (devices, fifos,
    /// sockets) is refused. What is already in the image at the same paths
    /// is replaced.
    pub fn rootfs(mut self, dir: &Path) -> Result<ImageBuilder, ImageError> {
        let meta = fs::metadata(dir).map_err(|source| ImageError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ImageError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        self.add_tree(dir, "")?;
        Ok(self)
    }

    fn add_tree(&mut self, dir: &Path, prefix: &str) -> Result<(), ImageError> {
        let read = |source| ImageError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(read)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read)?;
        names.sort();
        for name in names {
            let host = dir.join(&name);
            let Some(name) = name.to_str() else {
                return Err(ImageError::NonUtf8Path { path: host });
            };
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = fs::symlink_metadata(&host).map_err(|source| ImageError::Read {
                path: host.clone(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o7777;
            let kind = meta.file_type();
            if kind.is_dir() {
                self.insert(&path, Entry::Dir { mode })?;
                self.add_tree(&host, &path)?;
            } else if kind.is_file() {
                self.insert(&path, Entry::File { mode, source: host })?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&host).map_err(|source| ImageError::Read {
                    path: host.clone(),
                    source,
                })?;
                let Some(target) = target.to_str() else {
                    return Err(ImageError::NonUtf8Path { path: target });
                };
                let target = target.to_string();
                self.insert(&path, Entry::Symlink { target })?;
            } else {
                let kind = if kind.is_fifo() {
                    "fifo"
                } else if kind.is_socket() {
                    "socket"
                } else if kind.is_block_device() {
                    "block device"
                } else if kind.is_char_device() {
                    "character device"
                } else {
                    "special file"
                };
                return Err(ImageError::Unsupported { path: host, kind });
            }
        }
        Ok(())
    }

    /// Adds the host file `file` (a static binary, typically) at the
    /// absolute image path `at` (`/bin/busybox`), mode 0755, with any
    /// missing parent directories.
    pub fn binary(mut self, file: &Path, at: &str) -> Result<ImageBuilder, ImageError> {
        let meta = fs::metadata(file).map_err(|source| ImageError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(ImageError::NotAFile {
                path: file.to_path_buf(),
            });
        }
        let path = image_path(at)?;
        self.insert(
            &path,
            Entry::File {
                mode: BINARY_MODE,
                source: file.to_path_buf(),
            },
        )?;
        Ok(self)
    }

    /// Adds a regular file with `bytes` at the absolute image path `at`.
    pub fn file(mut self, at: &str, mode: u32, bytes: Vec<u8>) -> Result<ImageBuilder, ImageError> {
        let path = image_path(at)?;
        self.insert(
            &path,
            Entry::Bytes {
                mode: mode & 0o7777,
                bytes,
            },
        )?;
        Ok(self)
    }

    /// Adds a directory at the absolute image path `at`.
    pub fn dir(mut self, at: &str, mode: u32) -> Result<ImageBuilder, ImageError> {
        if at.trim_matches('/').is_empty() && at.starts_with('/') {
            // `/` itself: always there.
            return Ok(self);
        }
        let path = image_path(at)?;
        self.insert(
            &path,
            Entry::Dir {
                mode: mode & 0o7777,
            },
        )?;
        Ok(self)
    }

    /// Adds a symbolic link at the absolute image path `link` pointing to
    /// `target` (relative targets resolve from the link's directory:
    /// `/bin/sh -> busybox`).
    pub fn symlink(mut self, link: &str, target: &str) -> Result<ImageBuilder, ImageError> {
        let path = image_path(link)?;
        self.insert(
            &path,
            Entry::Symlink {
                target: target.to_string(),
            },
        )?;
        Ok(self)
    }

    /// The config's `Entrypoint`.
    pub fn entrypoint<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = argv.into_iter().map(Into::into).collect();
        self
    }

    /// The config's `Cmd` (the arguments to the entrypoint, or the command
    /// when there is none).
    pub fn cmd<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.cmd = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Sets one variable of the config's `Env` (replacing an earlier value
    /// of the same name).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
        self
    }

    /// The config's `WorkingDir`.
    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = Some(dir.to_string());
        self
    }

    /// Puts `entry` at `path`, after making sure every parent is a
    /// directory (missing ones are added with [`PARENT_DIR_MODE`]).
    fn insert(&mut self, path: &str, entry: Entry) -> Result<(), ImageError> {
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.entries.get(&parent) {
                None => {
                    self.entries.insert(
                        parent.clone(),
                        Entry::Dir {
                            mode: PARENT_DIR_MODE,
                        },
                    );
                }
                Some(Entry::Dir { .. }) => {}
                Some(_) => {
                    return Err(ImageError::ParentNotADirectory {
                        path: format!("/{path}"),
                        parent: format!("/{parent}"),
                    });
                }
            }
        }
        // Replacing a directory by something else drops what was under it.
        if !matches!(entry, Entry::Dir { .. })
            && matches!(self.entries.get(path), Some(Entry::Dir { .. }))
        {
            let under = format!("{path}/");
            self.entries.retain(|p, _| !p.starts_with(&under));
        }
        self.entries.insert(path.to_string(), entry);
        Ok(())
    }
}

/// An absolute image path as a key: no leading `/`, no empty or `.`
/// components; `..` and `/` itself are refused.
fn image_path(at: &str) -> Result<String, ImageError> {
    let Some(rest) = at.strip_prefix('/') else {
        return Err(ImageError::RelativePath { path: at.into() });
    };
    let mut parts = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(ImageError::DotDot { path: at.into() }),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(ImageError::RootPath { path: at.into() });
    }
    Ok(parts.join("/"))
}
