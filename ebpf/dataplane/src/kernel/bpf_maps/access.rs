//! Opening maps, their errors as [`MapError`], and batch updates.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
};

use aya::maps::{Map, MapError as AyaMapError};

use super::*;
use crate::error::MapError;

pub(crate) fn raw_fd(map: &Map) -> Option<RawFd> {
    match map {
        Map::HashMap(md) => Some(md.fd().as_fd().as_raw_fd()),
        _ => None,
    }
}

pub(crate) fn conv(map: &'static str, op: &'static str) -> impl Fn(AyaMapError) -> MapError {
    move |e| match e {
        AyaMapError::SyscallError(s) => {
            let code = s.io_error.raw_os_error();
            if code == Some(libc::E2BIG) || code == Some(libc::ENOSPC) {
                MapError::Full { map, op }
            } else {
                MapError::Os {
                    map,
                    op,
                    source: s.io_error,
                }
            }
        }
        other => MapError::Os {
            map,
            op,
            source: io::Error::other(other.to_string()),
        },
    }
}

pub(crate) fn ignore_missing(r: Result<(), AyaMapError>) -> Result<(), AyaMapError> {
    match r {
        Err(AyaMapError::KeyNotFound) | Err(AyaMapError::ElementNotFound) => Ok(()),
        Err(AyaMapError::SyscallError(s)) if s.io_error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(())
        }
        other => other,
    }
}

pub(crate) fn take<T: TryFrom<Map, Error = AyaMapError>>(
    maps: &mut dyn FnMut(&'static str) -> Option<Map>,
    name: &'static str,
    fd: Option<&mut RawFd>,
) -> Result<T, MapError> {
    let map = maps(name).ok_or_else(|| MapError::Corrupt {
        map: name,
        reason: "missing from the object or bpffs".into(),
    })?;
    if let Some(fd) = fd {
        *fd = raw_fd(&map).ok_or_else(|| MapError::Corrupt {
            map: name,
            reason: "not a hash map".into(),
        })?;
    }
    T::try_from(map).map_err(conv(name, "open"))
}

/// A batch update through the raw fd, as a [`MapError`].
pub(crate) fn batch<K: Copy, V: Copy>(
    fd: RawFd,
    map: &'static str,
    keys: &[K],
    values: &[V],
) -> Result<(), MapError> {
    if keys.is_empty() {
        return Ok(());
    }
    // SAFETY: fd belongs to one of this struct's maps, which outlive the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    sys::map_update_batch(fd, keys, values).map_err(|source| {
        if source.raw_os_error() == Some(libc::E2BIG) || source.raw_os_error() == Some(libc::ENOSPC)
        {
            MapError::Full {
                map,
                op: "batch update",
            }
        } else {
            MapError::Os {
                map,
                op: "batch update",
                source,
            }
        }
    })
}
