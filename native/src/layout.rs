//! Where each value goes: the column order of the `spans` table and the promotion rules,
//! both handed over by the Python backend (`span_schema`) so that they live in one place.

use std::collections::HashMap;

/// How a promoted attribute is fitted into its column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Text,
    Path,
    Status,
}

/// One promoted attribute name: its column, whether it is the primary (stable) name, and
/// how its value is fitted.
#[derive(Clone, Copy)]
pub struct Promotion {
    pub column: usize,
    pub primary: bool,
    pub fit: Fit,
}

/// The column indices the decoder fills itself, by name.
pub struct Structural {
    pub trace_id: usize,
    pub span_id: usize,
    pub parent_span_id: usize,
    pub service_name: usize,
    pub service_version: usize,
    pub name: usize,
    pub kind: usize,
    pub start_ns: usize,
    pub duration_ns: usize,
    pub status_code: usize,
    pub status_message: usize,
    pub error_type: usize,
    pub error_message: usize,
    pub attributes: usize,
    pub resource_id: usize,
    pub events: usize,
}

/// Which attribute keys are captured credential headers, and what their value becomes.
pub struct Redaction {
    pub credential_headers: Vec<String>,
    pub header_prefixes: Vec<String>,
    pub redacted: String,
}

impl Redaction {
    /// Whether `key` is a captured credential header such as
    /// `http.request.header.authorization` (any case, `_` or `-`).
    pub fn is_credential(&self, key: &str) -> bool {
        if key.len() < 5 || !key.as_bytes()[..5].eq_ignore_ascii_case(b"http.") {
            return false;
        }
        let lowered = key.to_lowercase();
        self.header_prefixes.iter().any(|prefix| {
            lowered.strip_prefix(prefix.as_str()).is_some_and(|header| {
                let header = header.replace('_', "-");
                self.credential_headers.contains(&header)
            })
        })
    }
}

pub struct Layout {
    pub width: usize,
    pub structural: Structural,
    pub promoted: HashMap<String, Promotion>,
    /// Promoted columns (text or status), each listed once.
    pub promoted_columns: Vec<(usize, Fit)>,
    pub redaction: Redaction,
    /// Most bytes of service name and version that a request's resources may repeat into
    /// its rows (each span row carries its resource's): bounds what a small body with a
    /// huge service name can expand to.
    pub max_repeated_resource_bytes: usize,
}

impl Layout {
    pub fn new(
        names: &[String],
        promoted: HashMap<String, (usize, bool)>,
        status_column: usize,
        path_column: usize,
        redaction: Redaction,
        max_repeated_resource_bytes: usize,
    ) -> Result<Self, String> {
        let find = |wanted: &str| {
            names
                .iter()
                .position(|name| name == wanted)
                .ok_or_else(|| format!("the span schema has no column {wanted:?}"))
        };
        let structural = Structural {
            trace_id: find("trace_id")?,
            span_id: find("span_id")?,
            parent_span_id: find("parent_span_id")?,
            service_name: find("service_name")?,
            service_version: find("service_version")?,
            name: find("name")?,
            kind: find("kind")?,
            start_ns: find("start_ns")?,
            duration_ns: find("duration_ns")?,
            status_code: find("status_code")?,
            status_message: find("status_message")?,
            error_type: find("error_type")?,
            error_message: find("error_message")?,
            attributes: find("attributes")?,
            resource_id: find("resource_id")?,
            events: find("events")?,
        };
        let fit_of = |column: usize| {
            if column == status_column {
                Fit::Status
            } else if column == path_column {
                Fit::Path
            } else {
                Fit::Text
            }
        };
        let mut promoted_columns: Vec<(usize, Fit)> = Vec::new();
        let mut promotions = HashMap::with_capacity(promoted.len());
        for (key, (column, primary)) in promoted {
            if column >= names.len() {
                return Err(format!("promoted column {column} is outside the schema"));
            }
            let fit = fit_of(column);
            if !promoted_columns.iter().any(|(known, _)| *known == column) {
                promoted_columns.push((column, fit));
            }
            promotions.insert(
                key,
                Promotion {
                    column,
                    primary,
                    fit,
                },
            );
        }
        promoted_columns.sort_unstable_by_key(|(column, _)| *column);
        Ok(Self {
            width: names.len(),
            structural,
            promoted: promotions,
            promoted_columns,
            redaction,
            max_repeated_resource_bytes,
        })
    }
}
