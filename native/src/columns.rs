//! Arrow column buffers built row by row: validity bitmaps, values, and for variable-width
//! columns 32-bit offsets (Arrow's `string`/`binary` layout). Python wraps them with
//! `pyarrow.Array.from_buffers` without copying.

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

    pub fn push(&mut self, value: Option<&[u8]>) {
        if let Some(bytes) = value {
            self.data.extend_from_slice(bytes);
        }
        self.validity.push(value.is_some());
        // The writer commits at most a few hundred MiB per request, far below 2 GiB.
        self.offsets
            .push(i32::try_from(self.data.len()).expect("column below 2 GiB"));
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

impl<T: Copy + Default> NumberColumn<T> {
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

    /// The values as bytes in native (little-endian on every platform Arrow runs on) order.
    pub fn value_bytes(&self) -> &[u8] {
        let len = std::mem::size_of_val(self.values.as_slice());
        // SAFETY: T is a plain integer type (u8/u16/u64/i64); any initialised integer
        // slice can be viewed as bytes.
        unsafe { std::slice::from_raw_parts(self.values.as_ptr().cast::<u8>(), len) }
    }

    pub fn validity_bytes(&self) -> &[u8] {
        &self.validity.bits
    }
}

impl TextColumn {
    pub fn validity_bytes(&self) -> &[u8] {
        &self.validity.bits
    }

    pub fn offset_bytes(&self) -> &[u8] {
        let len = std::mem::size_of_val(self.offsets.as_slice());
        // SAFETY: i32 values viewed as bytes.
        unsafe { std::slice::from_raw_parts(self.offsets.as_ptr().cast::<u8>(), len) }
    }
}
