//! Where each value goes: the column order of the `spans` table and the promotion rules,
//! both handed over by the Python backend (`storage/span_rows.py`, `ingest/decoding_rules.py`)
//! so that they live in one place.

use std::collections::HashMap;

use crate::columns::MAX_TEXT_COLUMN_BYTES;

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

/// Which attribute keys are captured credential headers, and what their value becomes; which
/// are URLs, and which of their query parameters are redacted (the library's rule,
/// `tokentrace._redact.redact_query` / `redact_url`).
pub struct Redaction {
    pub credential_headers: Vec<String>,
    pub header_prefixes: Vec<String>,
    pub redacted: String,
    /// Attributes whose value is a query (`url.query`).
    pub query_attributes: Vec<String>,
    /// Attributes whose value is a URL or a target (`url.full`, `http.target`, ...).
    pub url_attributes: Vec<String>,
    /// Captured headers whose values are URLs (`referer`, `location`).
    pub url_headers: Vec<String>,
    /// Query parameters whose value becomes `redacted_param` (`api_key`, ...).
    pub query_params: Vec<String>,
    pub redacted_param: String,
}

/// What an attribute's key says about its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rule {
    Keep,
    /// A captured credential header: the value becomes the redaction marker.
    Credential,
    /// A query: its credential parameters are redacted.
    Query,
    /// A URL: the credential parameters of its query are redacted.
    Url,
    /// A captured URL-valued header: each of its values is a URL.
    HeaderUrls,
}

impl Redaction {
    /// What to do with the value of the attribute `key`: keys are exact for URL attributes;
    /// captured headers (`http.request.header.authorization`) match in any case, `_` or `-`.
    pub fn rule(&self, key: &str) -> Rule {
        if self.query_attributes.iter().any(|known| known == key) {
            return Rule::Query;
        }
        if self.url_attributes.iter().any(|known| known == key) {
            return Rule::Url;
        }
        match self.captured_header(key) {
            Some(header) if self.credential_headers.contains(&header) => Rule::Credential,
            Some(header) if self.url_headers.contains(&header) => Rule::HeaderUrls,
            _ => Rule::Keep,
        }
    }

    /// The header a captured-header attribute holds, lowercase and with `-`
    /// (`tokentrace.attributes.captured_header_name`); None for any other attribute.
    fn captured_header(&self, key: &str) -> Option<String> {
        if key.len() < 5 || !key.as_bytes()[..5].eq_ignore_ascii_case(b"http.") {
            return None;
        }
        let lowered = key.to_lowercase();
        self.header_prefixes.iter().find_map(|prefix| {
            lowered
                .strip_prefix(prefix.as_str())
                .map(|header| header.replace('_', "-"))
        })
    }

    /// `query` with the values of its credential parameters replaced, or None when it has
    /// none (`redact_query`: pairs split on `&`, names compared after `unquote_plus`, in
    /// their case; the rest is kept byte for byte).
    pub fn redact_query(&self, query: &str) -> Option<String> {
        if !query.contains('=') || !query.split('&').any(|pair| self.is_credential_pair(pair)) {
            return None; // the common case: no allocation
        }
        let mut redacted = String::with_capacity(query.len());
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                redacted.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if self.is_credential_param(name) => {
                    redacted.push_str(name);
                    redacted.push('=');
                    redacted.push_str(&self.redacted_param);
                }
                _ => redacted.push_str(pair),
            }
        }
        Some(redacted)
    }

    /// `url` with the credential parameters of its query redacted (`redact_url`: the query
    /// is between the first `?` and the first `#` after it), or None when unchanged.
    pub fn redact_url(&self, url: &str) -> Option<String> {
        let (base, rest) = url.split_once('?')?;
        let (query, fragment) = match rest.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (rest, None),
        };
        let query = self.redact_query(query)?;
        let mut redacted = String::with_capacity(url.len() + query.len());
        redacted.push_str(base);
        redacted.push('?');
        redacted.push_str(&query);
        if let Some(fragment) = fragment {
            redacted.push('#');
            redacted.push_str(fragment);
        }
        Some(redacted)
    }

    fn is_credential_pair(&self, pair: &str) -> bool {
        pair.split_once('=')
            .is_some_and(|(name, _)| self.is_credential_param(name))
    }

    /// Whether a query parameter's (still encoded) name is a credential one.
    fn is_credential_param(&self, name: &str) -> bool {
        if !name.contains(['%', '+']) {
            return self.query_params.iter().any(|param| param == name);
        }
        let decoded = unquote_plus(name);
        self.query_params.contains(&decoded)
    }
}

/// Python's `urllib.parse.unquote_plus`: `+` is a space, `%XX` a byte, the bytes UTF-8
/// (an invalid sequence becomes U+FFFD, so it equals no parameter name, as in Python).
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'+' {
            decoded.push(b' ');
        } else if byte == b'%'
            && index + 2 < bytes.len()
            && bytes[index + 1].is_ascii_hexdigit()
            && bytes[index + 2].is_ascii_hexdigit()
        {
            decoded.push(hex_value(bytes[index + 1]) << 4 | hex_value(bytes[index + 2]));
            index += 3;
            continue;
        } else {
            decoded.push(byte);
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// The Arrow type of a column, as the decoder builds it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ColumnType {
    Binary,
    Text,
    U8,
    U16,
    U64,
    I64,
}

impl ColumnType {
    /// The name pyarrow gives the type (`str(pa.uint64())`).
    fn arrow_name(self) -> &'static str {
        match self {
            ColumnType::Binary => "binary",
            ColumnType::Text => "string",
            ColumnType::U8 => "uint8",
            ColumnType::U16 => "uint16",
            ColumnType::U64 => "uint64",
            ColumnType::I64 => "int64",
        }
    }
}

pub struct Layout {
    pub width: usize,
    /// The type of each column, checked against the schema's when the layout is built:
    /// `from_buffers` trusts the buffers, so a type the decoder does not build (an int32
    /// column given 8-byte values, say) would be read as garbage, not refused.
    pub types: Vec<ColumnType>,
    pub structural: Structural,
    pub promoted: HashMap<String, Promotion>,
    pub redaction: Redaction,
    /// Most bytes of service name and version that a request's resources may repeat into
    /// its rows (each span row carries its resource's): bounds what a small body with a
    /// huge service name can expand to.
    pub max_repeated_resource_bytes: usize,
    /// Most bytes of one text column a request may decode to (at most 2 GiB, Arrow's
    /// 32-bit offsets): beyond it the request is refused, not the decoder stopped.
    pub max_column_bytes: usize,
    pub names: Vec<String>,
}

impl Layout {
    #[allow(clippy::too_many_arguments)] // one per rule handed over by Python
    pub fn new(
        names: &[String],
        arrow_types: &[String],
        promoted: HashMap<String, (usize, bool)>,
        status_column: usize,
        path_column: usize,
        redaction: Redaction,
        max_repeated_resource_bytes: usize,
        max_column_bytes: usize,
    ) -> Result<Self, String> {
        if max_column_bytes > MAX_TEXT_COLUMN_BYTES {
            return Err(format!(
                "max_column_bytes is at most {MAX_TEXT_COLUMN_BYTES} (32-bit offsets)"
            ));
        }
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
        // Promoted columns (text or status), each listed once.
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
        let types = column_types(&structural, &promoted_columns, names.len());
        if arrow_types.len() != names.len() {
            return Err(format!(
                "{} column types for {} columns",
                arrow_types.len(),
                names.len()
            ));
        }
        for ((name, wanted), built) in names.iter().zip(arrow_types).zip(&types) {
            if wanted != built.arrow_name() {
                return Err(format!(
                    "column {name:?} is {wanted} in the schema, but the decoder builds {}",
                    built.arrow_name()
                ));
            }
        }
        Ok(Self {
            width: names.len(),
            types,
            structural,
            promoted: promotions,
            redaction,
            max_repeated_resource_bytes,
            max_column_bytes,
            names: names.to_vec(),
        })
    }
}

/// What the decoder puts in each column: ids and times as numbers, HTTP status as uint16,
/// the trace id as bytes, everything else (promoted text, JSON) as strings.
fn column_types(at: &Structural, promoted: &[(usize, Fit)], width: usize) -> Vec<ColumnType> {
    (0..width)
        .map(|index| {
            if index == at.trace_id {
                ColumnType::Binary
            } else if index == at.span_id || index == at.parent_span_id || index == at.resource_id {
                ColumnType::U64
            } else if index == at.kind || index == at.status_code {
                ColumnType::U8
            } else if index == at.start_ns || index == at.duration_ns {
                ColumnType::I64
            } else if promoted.contains(&(index, Fit::Status)) {
                ColumnType::U16
            } else {
                ColumnType::Text
            }
        })
        .collect()
}
