//! Between etcd's shapes and the store's.

use bytes::Bytes;
use etcd_client::KeyValue;

use crate::{Item, Result, Revision, StoreError};

/// etcd's revisions are i64 and never negative.
pub(crate) fn rev_u64(r: i64) -> Revision {
    Revision::try_from(r).unwrap_or(0)
}

pub(crate) fn rev_i64(r: Revision) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

/// The store key of an etcd key (without the store's prefix).
pub(crate) fn key_of(prefix: &str, full: &[u8]) -> Result<String> {
    let rest = full
        .strip_prefix(prefix.as_bytes())
        .ok_or_else(|| StoreError::Corrupt {
            what: format!(
                "etcd returned key {:?} outside the prefix {prefix:?}",
                String::from_utf8_lossy(full)
            ),
        })?;
    String::from_utf8(rest.to_vec()).map_err(|_| StoreError::Corrupt {
        what: format!("etcd key {:?} is not UTF-8", String::from_utf8_lossy(full)),
    })
}

pub(crate) fn item_from_kv(prefix: &str, kv: &KeyValue) -> Result<Item> {
    Ok(Item {
        key: key_of(prefix, kv.key())?,
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: rev_u64(kv.create_revision()),
        mod_revision: rev_u64(kv.mod_revision()),
    })
}

/// `[start, end)` of every key starting with `prefix`, as etcd ranges go
/// (an `end` of `\0` means "no upper bound").
pub(crate) fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let start = if prefix.is_empty() {
        vec![0]
    } else {
        prefix.to_vec()
    };
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (start, end);
        }
    }
    (start, vec![0])
}

fn status_message(e: &etcd_client::Error) -> Option<&str> {
    match e {
        etcd_client::Error::GRpcStatus(s) => Some(s.message()),
        _ => None,
    }
}

/// etcd's "mvcc: required revision has been compacted".
pub(crate) fn is_compacted(e: &etcd_client::Error) -> bool {
    status_message(e).is_some_and(|m| m.contains("required revision has been compacted"))
}

/// etcd's "mvcc: required revision is a future revision".
pub(crate) fn is_future_revision(e: &etcd_client::Error) -> bool {
    status_message(e).is_some_and(|m| m.contains("future revision"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_range(b"/a/"), (b"/a/".to_vec(), b"/a0".to_vec()));
        assert_eq!(prefix_range(b"a\xff"), (b"a\xff".to_vec(), b"b".to_vec()));
        assert_eq!(prefix_range(b""), (vec![0], vec![0]));
        assert_eq!(prefix_range(b"\xff\xff"), (b"\xff\xff".to_vec(), vec![0]));
    }

    #[test]
    fn keys_strip_the_prefix() {
        assert_eq!(key_of("/t1", b"/t1/a").unwrap(), "/a");
        assert!(key_of("/t1", b"/t2/a").is_err());
    }
}
