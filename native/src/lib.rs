//! `tokentrace_otlp_native`: the compiled span decoder of the tokentrace backend.
//!
//! `SpanDecoder(...)` is built once with the column layout and promotion rules of the
//! Python backend; `decode(body)` turns one protobuf `ExportTraceServiceRequest` into
//! Arrow-layout buffers for the `spans` columns plus the `resources` rows, without holding
//! the GIL while it decodes. The Python side (`tokentrace_backend.ingest.native_decoder`)
//! wraps the buffers into a pyarrow Table.

#![forbid(unsafe_code)]

mod attributes;
mod columns;
mod decoder;
mod layout;
mod resources;
mod span_rows;
mod values;
mod view;

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::columns::{write_numbers, ArrowNumber, NumberColumn, MAX_TEXT_COLUMN_BYTES};
use crate::decoder::{Column, Decoded};
use crate::layout::{Layout, Redaction};

#[pyclass(frozen, module = "tokentrace_otlp_native")]
struct SpanDecoder {
    layout: Layout,
}

#[pymethods]
impl SpanDecoder {
    #[new]
    #[allow(clippy::too_many_arguments)] // keyword-only in Python: one per layout rule
    #[pyo3(signature = (*, column_names, column_types, promoted, status_column, path_column, credential_headers, header_prefixes, redacted, query_attributes, url_attributes, url_headers, query_params, redacted_param, max_repeated_resource_bytes, max_column_bytes = MAX_TEXT_COLUMN_BYTES))]
    fn new(
        column_names: Vec<String>,
        column_types: Vec<String>,
        promoted: HashMap<String, (usize, bool)>,
        status_column: usize,
        path_column: usize,
        credential_headers: Vec<String>,
        header_prefixes: Vec<String>,
        redacted: String,
        query_attributes: Vec<String>,
        url_attributes: Vec<String>,
        url_headers: Vec<String>,
        query_params: Vec<String>,
        redacted_param: String,
        max_repeated_resource_bytes: usize,
        max_column_bytes: usize,
    ) -> PyResult<Self> {
        let redaction = Redaction {
            credential_headers,
            header_prefixes,
            redacted,
            query_attributes,
            url_attributes,
            url_headers,
            query_params,
            redacted_param,
        };
        let layout = Layout::new(
            &column_names,
            &column_types,
            promoted,
            status_column,
            path_column,
            redaction,
            max_repeated_resource_bytes,
            max_column_bytes,
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
        // A panic is a bug, not bad input: it becomes a RuntimeError (HTTP 500) instead of
        // pyo3's PanicException, a BaseException that would bypass the server's handlers.
        let outcome = py.detach(|| {
            panic::catch_unwind(AssertUnwindSafe(|| decoder::decode(&self.layout, body)))
        });
        let decoded = match outcome {
            Ok(result) => result.map_err(|malformed| PyValueError::new_err(malformed.0))?,
            Err(_) => return Err(PyRuntimeError::new_err("the native span decoder failed")),
        };
        to_python(py, decoded)
    }
}

fn to_python(py: Python<'_>, decoded: Decoded) -> PyResult<Bound<'_, PyTuple>> {
    let columns = PyList::empty(py);
    for column in &decoded.columns {
        columns.append(column_buffers(py, column)?)?;
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

/// One column's `(null_count, validity or None, offsets or None, values)`.
type Buffers<'py> = (
    usize,
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Bound<'py, PyBytes>,
);

fn column_buffers<'py>(py: Python<'py>, column: &Column) -> PyResult<Buffers<'py>> {
    match column {
        Column::Text(text) => Ok((
            text.nulls(),
            validity(py, text.nulls(), text.validity_bytes()),
            Some(number_bytes(py, &text.offsets)?),
            PyBytes::new(py, &text.data),
        )),
        Column::U8(numbers) => number_buffers(py, numbers),
        Column::U16(numbers) => number_buffers(py, numbers),
        Column::U64(numbers) => number_buffers(py, numbers),
        Column::I64(numbers) => number_buffers(py, numbers),
    }
}

fn number_buffers<'py, T: ArrowNumber>(
    py: Python<'py>,
    numbers: &NumberColumn<T>,
) -> PyResult<Buffers<'py>> {
    Ok((
        numbers.nulls(),
        validity(py, numbers.nulls(), numbers.validity_bytes()),
        None,
        number_bytes(py, &numbers.values)?,
    ))
}

/// The validity bitmap, or None when every value is present (Arrow allows leaving it out).
fn validity<'py>(py: Python<'py>, nulls: usize, bits: &[u8]) -> Option<Bound<'py, PyBytes>> {
    (nulls > 0).then(|| PyBytes::new(py, bits))
}

fn number_bytes<'py, T: ArrowNumber>(
    py: Python<'py>,
    values: &[T],
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, values.len() * T::WIDTH, |out| {
        write_numbers(values, out);
        Ok(())
    })
}

#[pymodule]
fn tokentrace_otlp_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<SpanDecoder>()?;
    Ok(())
}
