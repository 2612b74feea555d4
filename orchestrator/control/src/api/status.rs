//! Status as a subresource: `Update` and `Apply` keep the stored status
//! (users write specs), `UpdateStatus` keeps everything but the status
//! (controllers and node agents write what they observe).

use berth_api::Object;
use serde_json::Value;
use tonic::Status;

/// `base` with the `status` of `status_from` (or none, if it has none).
pub(super) fn splice(base: &Object, status_from: &Object) -> Result<Object, Status> {
    let key = base.key();
    let internal = |e: String| Status::internal(format!("{key}: {e}"));
    let mut value = serde_json::to_value(base).map_err(|e| internal(e.to_string()))?;
    let status = serde_json::to_value(status_from)
        .map_err(|e| internal(e.to_string()))?
        .get_mut("status")
        .map(Value::take);
    let Value::Object(map) = &mut value else {
        return Err(internal("does not encode as a JSON object".into()));
    };
    match status {
        Some(s) => {
            map.insert("status".into(), s);
        }
        None => {
            map.remove("status");
        }
    }
    Object::from_value(value).map_err(|e| internal(berth_api::error_chain(&e)))
}

/// Whether `a` and `b` differ in anything but metadata and status (what
/// bumps `metadata.generation`, as in Kubernetes).
pub(super) fn spec_changed(a: &Object, b: &Object) -> bool {
    let strip = |o: &Object| {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(a) != strip(b)
}

#[cfg(test)]
mod tests {
    use berth_api::{Deployment, Object};

    use super::splice;

    fn deployment(replicas: i32, ready: i32) -> Object {
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.namespace = "default".into();
        d.spec.replicas = replicas;
        d.status.ready_replicas = ready;
        Object::Deployment(d)
    }

    #[test]
    fn spec_and_status_come_from_their_own_side() {
        let user = deployment(5, 0);
        let stored = deployment(3, 3);
        let Object::Deployment(d) = splice(&user, &stored).unwrap() else {
            panic!()
        };
        assert_eq!((d.spec.replicas, d.status.ready_replicas), (5, 3));
        let Object::Deployment(d) = splice(&stored, &user).unwrap() else {
            panic!()
        };
        assert_eq!((d.spec.replicas, d.status.ready_replicas), (3, 0));
    }

    #[test]
    fn only_spec_changes_count() {
        let a = deployment(3, 0);
        let mut b = deployment(3, 3);
        b.metadata_mut().labels.insert("x".into(), "y".into());
        assert!(!super::spec_changed(&a, &b));
        assert!(super::spec_changed(&a, &deployment(4, 0)));
    }
}
