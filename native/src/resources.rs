//! The `resources` rows: each distinct resource of a request, decoded once, with its id.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use bytes::Bytes;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

use crate::decoder::Malformed;
use crate::layout::Redaction;
use crate::values::{as_text, key_values_to_map, sort_keys};

const UNKNOWN_SERVICE: &str = "unknown_service";

/// One `resources` row: id, service name, service version, attributes JSON.
pub struct ResourceRow {
    pub id: u64,
    pub service_name: String,
    pub service_version: Option<String>,
    pub attributes: String,
}

impl ResourceRow {
    /// Bytes of this resource that every span row of it repeats.
    pub fn repeated_bytes(&self) -> usize {
        self.service_name.len() + self.service_version.as_ref().map_or(0, String::len)
    }
}
pub fn resource_row(raw: &Bytes, redaction: &Redaction) -> Result<ResourceRow, Malformed> {
    let resource = Resource::decode(raw.clone())
        .map_err(|_| Malformed("a resource is not a valid Resource".to_owned()))?;
    let attributes = key_values_to_map(&resource.attributes, redaction);
    let service_name = match attributes.get("service.name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => UNKNOWN_SERVICE.to_owned(),
    };
    let service_version = attributes.get("service.version").and_then(as_text);
    let mut canonical = Value::Object(attributes);
    sort_keys(&mut canonical);
    let text = canonical.to_string();
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b digest size");
    hasher.update(text.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the digest buffer has the declared size");
    Ok(ResourceRow {
        id: u64::from_be_bytes(digest),
        service_name,
        service_version,
        attributes: text,
    })
}
