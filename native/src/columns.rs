//! Arrow column buffers built row by row: validity bitmaps, values, and for variable-width
//! columns 32-bit offsets (Arrow's `string`/`binary` layout). They are copied into Python
//! `bytes` once, which `pyarrow.Array.from_buffers` wraps without copying again.

/// The validity bitmap of one column (bit set = value present), LSB first as Arrow wants.
#[derive(Default)]
pub struct Validity {
    bits: Vec<u8>,
    len: usize,
    nulls: usize,
}

impl Validity {
    fn reserve(&mut self, rows: usize) {
        self.bits
            .reserve((self.len + rows).div_ceil(8) - self.bits.len());
    }

    fn push(&mut self, valid: bool) {
        if self.len.is_multiple_of(8) {
            self.bits.push(0);
        }
        if valid {
            *self.bits.last_mut().expect("a byte was just pushed") |= 1 << (self.len % 8);
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }
}

/// Most bytes a string or binary column can hold (Arrow's 32-bit offsets).
pub const MAX_TEXT_COLUMN_BYTES: usize = i32::MAX as usize;

/// A value did not fit its column.
pub struct ColumnFull;

/// A column of strings or byte strings.
pub struct TextColumn {
    pub validity: Validity,
    pub offsets: Vec<i32>,
    pub data: Vec<u8>,
}

impl TextColumn {
    pub fn new() -> Self {
        Self {
            validity: Validity::default(),
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    pub fn reserve(&mut self, rows: usize) {
        self.validity.reserve(rows);
        self.offsets.reserve(rows);
    }

    /// Append a value, or Err (nothing appended) when the column would hold more than
    /// `limit` bytes; its offsets are 32-bit, so no limit lets it pass 2 GiB.
    pub fn push(&mut self, value: Option<&[u8]>, limit: usize) -> Result<(), ColumnFull> {
        let end = self.data.len() + value.map_or(0, <[u8]>::len);
        let offset = i32::try_from(end)
            .ok()
            .filter(|_| end <= limit)
            .ok_or(ColumnFull)?;
        if let Some(bytes) = value {
            self.data.extend_from_slice(bytes);
        }
        self.validity.push(value.is_some());
        self.offsets.push(offset);
        Ok(())
    }

    pub fn nulls(&self) -> usize {
        self.validity.nulls
    }
}

/// A column of fixed-width numbers.
pub struct NumberColumn<T> {
    pub validity: Validity,
    pub values: Vec<T>,
}

impl<T: ArrowNumber> NumberColumn<T> {
    pub fn new() -> Self {
        Self {
            validity: Validity::default(),
            values: Vec::new(),
        }
    }

    pub fn reserve(&mut self, rows: usize) {
        self.validity.reserve(rows);
        self.values.reserve(rows);
    }

    pub fn push(&mut self, value: Option<T>) {
        self.validity.push(value.is_some());
        self.values.push(value.unwrap_or_default());
    }

    pub fn nulls(&self) -> usize {
        self.validity.nulls
    }

    pub fn validity_bytes(&self) -> &[u8] {
        &self.validity.bits
    }
}

impl TextColumn {
    pub fn validity_bytes(&self) -> &[u8] {
        &self.validity.bits
    }
}

/// A fixed-width number as Arrow lays it out in a buffer: its bytes in the machine's
/// order (Arrow buffers are native-endian). Only plain integers implement it.
pub trait ArrowNumber: Copy + Default {
    const WIDTH: usize;
    fn write_to(self, out: &mut [u8]);
}

macro_rules! arrow_number {
    ($($number:ty),*) => {$(
        impl ArrowNumber for $number {
            const WIDTH: usize = std::mem::size_of::<$number>();
            fn write_to(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_ne_bytes());
            }
        }
    )*};
}

arrow_number!(u8, u16, i32, u64, i64);

/// `values` as an Arrow buffer into `out`, which holds `values.len() * T::WIDTH` bytes.
/// (The bytes are copied into Python once anyway, so a byte view of the vector, which
/// needs `unsafe`, would save nothing.)
pub fn write_numbers<T: ArrowNumber>(values: &[T], out: &mut [u8]) {
    for (chunk, value) in out.chunks_exact_mut(T::WIDTH).zip(values) {
        value.write_to(chunk);
    }
}
