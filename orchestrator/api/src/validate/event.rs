//! Event checks: the involved object's namespace.

use crate::event::Event;
use crate::kind::Kind;
use crate::validate::{FieldError, FieldErrors, FieldPath, non_negative};

/// Checks an Event.
pub(crate) fn validate_event(event: &Event, errs: &mut FieldErrors) {
    let involved = &event.involved_object;
    let path = FieldPath::new("involvedObject");
    if involved.kind.is_empty() {
        errs.push(FieldError::required(&path.child("kind"), ""));
    }
    if involved.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    let namespaced = Kind::from_kind_name(&involved.kind).is_none_or(Kind::is_namespaced);
    if namespaced
        && !involved.namespace.is_empty()
        && involved.namespace != event.metadata.namespace
    {
        errs.push(FieldError::invalid(
            &path.child("namespace"),
            involved.namespace.as_str(),
            "does not match event.namespace",
        ));
    }
    non_negative(i64::from(event.count), &FieldPath::new("count"), errs);
}
