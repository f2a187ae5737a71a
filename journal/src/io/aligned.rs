//! Heap buffers aligned for O_DIRECT.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// A zeroed heap buffer whose start and length are multiples of `align`.
///
/// Owns its memory; the engine lends out raw pointers to it only while it owns the buffer
/// and keeps it alive until the kernel has completed every operation on it.
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer is plain owned memory with no interior sharing; moving it to another
// thread moves ownership of the allocation.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes aligned to `align` (a power of two; `len` a non-zero
    /// multiple of it). Returns `None` if the layout is invalid or memory is exhausted.
    pub(crate) fn new(len: usize, align: usize) -> Option<Self> {
        if len == 0 || !align.is_power_of_two() || !len.is_multiple_of(align) {
            return None;
        }
        let layout = Layout::from_size_align(len, align).ok()?;
        // SAFETY: the layout has a non-zero size (checked above).
        let raw = unsafe { alloc_zeroed(layout) };
        NonNull::new(raw).map(|ptr| Self { ptr, layout })
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    /// The start address, for handing to the kernel.
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The bytes, for filling.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr points to `len` initialized (zeroed at allocation) bytes that this
        // value owns exclusively; `&mut self` guarantees no other borrow exists.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) }
    }

    /// The bytes, for reading.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: as in `as_mut_slice`, shared borrow of owned initialized bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated by `alloc_zeroed` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        let mut b = AlignedBuf::new(8192, 4096).expect("alloc");
        assert_eq!(b.as_ptr() as usize % 4096, 0);
        assert!(b.as_slice().iter().all(|&x| x == 0));
        b.as_mut_slice()[8191] = 7;
        assert_eq!(b.as_slice()[8191], 7);
        assert!(AlignedBuf::new(100, 4096).is_none());
        assert!(AlignedBuf::new(0, 4096).is_none());
    }
}
