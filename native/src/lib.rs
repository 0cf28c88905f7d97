//! `tokentrace_otlp_native`: the compiled span decoder of the tokentrace backend.
//!
//! `SpanDecoder(...)` is built once with the column layout and promotion rules of the
//! Python backend; `decode(body)` turns one protobuf `ExportTraceServiceRequest` into
//! Arrow-layout buffers for the `spans` columns plus the `resources` rows, without holding
//! the GIL while it decodes. The Python side (`tokentrace_backend.otlp.native_decoding`)
//! wraps the buffers into a pyarrow Table.

mod attributes;
mod columns;
mod decoder;
mod layout;
mod values;
mod view;

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::decoder::{Column, Decoded};
use crate::layout::Layout;

#[pyclass(frozen, module = "tokentrace_otlp_native")]
struct SpanDecoder {
    layout: Layout,
}

#[pymethods]
impl SpanDecoder {
    #[new]
    #[pyo3(signature = (*, column_names, promoted, status_column, path_column, credential_headers, header_prefixes, redacted))]
    fn new(
        column_names: Vec<String>,
        promoted: HashMap<String, (usize, bool)>,
        status_column: usize,
        path_column: usize,
        credential_headers: Vec<String>,
        header_prefixes: Vec<String>,
        redacted: String,
    ) -> PyResult<Self> {
        let layout = Layout::new(
            &column_names,
            promoted,
            status_column,
            path_column,
            credential_headers,
            header_prefixes,
            redacted,
        )
        .map_err(PyValueError::new_err)?;
        Ok(Self { layout })
    }

    /// Decode one protobuf export request.
    ///
    /// Returns ``(rows, columns, resources, rejected, first_error)``: ``columns`` holds one
    /// ``(null_count, validity, offsets, values)`` tuple per column in schema order
    /// (``validity`` and ``offsets`` may be None), ``resources`` the ``(resource_id,
    /// service_name, service_version, attributes_json)`` rows. Raises ValueError when the
    /// body is not an export request.
    fn decode<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
        let decoded = py
            .detach(|| decoder::decode(&self.layout, body))
            .map_err(|malformed| PyValueError::new_err(malformed.0))?;
        to_python(py, decoded)
    }
}

fn to_python(py: Python<'_>, decoded: Decoded) -> PyResult<Bound<'_, PyTuple>> {
    let columns = PyList::empty(py);
    for column in &decoded.columns {
        let (nulls, validity, offsets, values) = match column {
            Column::Text(text) => (
                text.nulls(),
                text.validity_bytes(),
                Some(text.offset_bytes()),
                &text.data[..],
            ),
            Column::U8(numbers) => (
                numbers.nulls(),
                numbers.validity_bytes(),
                None,
                numbers.value_bytes(),
            ),
            Column::U16(numbers) => (
                numbers.nulls(),
                numbers.validity_bytes(),
                None,
                numbers.value_bytes(),
            ),
            Column::U64(numbers) => (
                numbers.nulls(),
                numbers.validity_bytes(),
                None,
                numbers.value_bytes(),
            ),
            Column::I64(numbers) => (
                numbers.nulls(),
                numbers.validity_bytes(),
                None,
                numbers.value_bytes(),
            ),
        };
        let validity = (nulls > 0).then(|| PyBytes::new(py, validity));
        let offsets = offsets.map(|bytes| PyBytes::new(py, bytes));
        columns.append((nulls, validity, offsets, PyBytes::new(py, values)))?;
    }
    let resources = PyList::empty(py);
    for row in decoded.resources {
        resources.append((
            row.id,
            row.service_name,
            row.service_version,
            row.attributes,
        ))?;
    }
    (
        decoded.rows,
        columns,
        resources,
        decoded.rejected,
        decoded.first_error,
    )
        .into_pyobject(py)
}

#[pymodule]
fn tokentrace_otlp_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<SpanDecoder>()?;
    Ok(())
}
