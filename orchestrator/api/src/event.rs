//! Events: what happened to an object (`berth get events`).

use serde::{Deserialize, Serialize};

use crate::macros::{is_default, string_enum};
use crate::meta::{ApiVersion, KindTag, ObjectMeta, ObjectReference};
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::time::Time;
use crate::validate::FieldErrors;

string_enum! {
    /// The severity of an event.
    pub enum EventType {
        /// Routine.
        #[default]
        Normal = "Normal",
        /// Something may be wrong.
        Warning = "Warning",
    }
}

/// An Event (`apiVersion: v1`, `kind: Event`), in the shape of core/v1.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Event {
    /// `v1`.
    pub api_version: ApiVersion<Event>,
    /// `Event`.
    pub kind: KindTag<Event>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The object the event is about.
    pub involved_object: ObjectReference,
    /// A CamelCase reason (`Scheduled`, `Pulled`, `Unhealthy`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The component that reported it.
    #[serde(skip_serializing_if = "is_default")]
    pub source: EventSource,
    /// When it first happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    /// When it last happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    /// How many times it happened.
    #[serde(skip_serializing_if = "is_default")]
    pub count: i32,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: EventType,
    /// When it happened, with microseconds (`MicroTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<Time>,
    /// What was done (`Binding`, `Killing`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// The controller that reported it (`berth.io/scheduler`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporting_component: String,
    /// The instance of that controller (a node name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

/// The reporter of an event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EventSource {
    /// The component (`scheduler`, `berth-agent`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    /// The node.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}

impl ResourceFields for Event {
    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::event::validate_event(self, errs);
    }
}

resource_boilerplate!(Event);
