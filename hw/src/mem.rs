//! Memory for large hot tables: a zeroed slab backed by transparent huge pages, and a
//! prefetch hint.
//!
//! A table of a million or more records read at random (the last-value cache of an
//! OPRA-scale universe) misses the TLB on almost every access with 4 KiB pages; 2 MiB
//! pages cut those misses by a factor of 512, and a prefetch issued a few dozen records
//! ahead keeps many cache misses in flight at once. The `unsafe` code this takes lives
//! here, in `hw/`, so the crates that use it stay free of it (STYLE rule 9).

use core::ptr::NonNull;
use std::alloc::Layout;

use zerocopy::FromZeros;

/// The size and alignment of an x86-64 transparent huge page.
pub const HUGE_PAGE: usize = 2 << 20;

/// A fixed-length, zero-initialised `[T]` owned like a `Box<[T]>`, but 2 MiB-aligned (when
/// at least 2 MiB long) and advised as huge-page memory before it is first touched.
///
/// Invariant: `ptr` comes from `std::alloc::alloc(layout)`, `layout.size()` is
/// `len * size_of::<T>() > 0`, and all `len` records are initialised. The slab owns the
/// memory until `Drop` frees it with the same `layout`.
pub struct HugeSlab<T: FromZeros + Copy> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
    huge_pages_advised: bool,
}

// SAFETY: a `HugeSlab<T>` is the unique owner of its records, exactly like a `Box<[T]>`:
// sending it is as sound as sending `T`s.
unsafe impl<T: FromZeros + Copy + Send> Send for HugeSlab<T> {}
// SAFETY: as for `Send`; `&HugeSlab<T>` only hands out `&[T]`.
unsafe impl<T: FromZeros + Copy + Sync> Sync for HugeSlab<T> {}

impl<T: FromZeros + Copy> HugeSlab<T> {
    /// `len` all-zero records, or `None` if `len` (or `T`) is zero-sized, the size
    /// overflows, or the allocator is out of memory. The memory is written (zeroed) here,
    /// once, so the data path takes no page fault later.
    pub fn zeroed(len: usize) -> Option<Self> {
        let record = core::mem::size_of::<T>();
        let bytes = len.checked_mul(record).filter(|&b| b > 0)?;
        let align = if bytes >= HUGE_PAGE {
            HUGE_PAGE
        } else {
            core::mem::align_of::<T>()
        };
        let layout = Layout::from_size_align(bytes, align).ok()?;
        // SAFETY: `layout` has a non-zero size (filtered above).
        let raw = unsafe { std::alloc::alloc(layout) };
        let ptr = NonNull::new(raw.cast::<T>())?;
        // Advise before the first write, so the faults below take huge pages. Only the
        // whole 2 MiB pages inside the allocation: the rest is not ours to advise.
        let huge_pages_advised = bytes >= HUGE_PAGE && advise_huge(raw, bytes / HUGE_PAGE);
        // SAFETY: `raw` is valid for writes of `bytes` bytes (allocated just above with
        // that size); all-zero bytes are a valid `T` (`T: FromZeros`), so afterwards all
        // `len` records are initialised, as the invariant requires.
        unsafe { raw.write_bytes(0, bytes) };
        Some(Self {
            ptr,
            len,
            layout,
            huge_pages_advised,
        })
    }

    /// Whether `madvise(MADV_HUGEPAGE)` succeeded on the slab.
    pub fn huge_pages_advised(&self) -> bool {
        self.huge_pages_advised
    }

    /// Asks the CPU to start loading record `i` into L1 (a hint; nothing if out of range).
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(v) = self.get(i) {
            prefetch(v);
        }
    }
}

/// Issues `prefetcht0` for the cache line holding the start of `v` (x86-64; nothing
/// elsewhere). A hint: it changes no memory the program can see.
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (v as *const T).cast::<i8>();
        // SAFETY: a prefetch is only a hint to the cache: it reads and writes no memory as
        // far as the program can tell and never faults; `p` comes from a live reference
        // anyway. SSE is part of the x86-64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// `madvise(MADV_HUGEPAGE)` on `pages` 2 MiB pages from `start`; whether it worked.
/// Failure (an old kernel, THP disabled, a non-Linux system) is not an error.
#[cfg(target_os = "linux")]
fn advise_huge(start: *mut u8, pages: usize) -> bool {
    // SAFETY: `[start, start + pages * 2 MiB)` lies inside the allocation the caller just
    // made (`start` is 2 MiB-aligned, hence page-aligned, and `pages` counts only whole
    // 2 MiB pages of it). MADV_HUGEPAGE changes the kernel's paging policy for the range,
    // never its contents, mapping or protection.
    let rc = unsafe { libc::madvise(start.cast(), pages * HUGE_PAGE, libc::MADV_HUGEPAGE) };
    rc == 0
}

/// No transparent huge pages to ask for here.
#[cfg(not(target_os = "linux"))]
fn advise_huge(_start: *mut u8, _pages: usize) -> bool {
    false
}

impl<T: FromZeros + Copy> core::ops::Deref for HugeSlab<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: by the invariant, `ptr` points to `len` initialised records owned by
        // `self` and alive until `drop`; `&self` rules out a concurrent `&mut`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: FromZeros + Copy> core::ops::DerefMut for HugeSlab<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: FromZeros + Copy> Drop for HugeSlab<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` was returned by `std::alloc::alloc(self.layout)` and is freed only
        // here, once; `T: Copy`, so there is nothing to drop in place.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

impl<T: FromZeros + Copy> core::fmt::Debug for HugeSlab<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HugeSlab")
            .field("len", &self.len)
            .field("align", &self.layout.align())
            .field("huge_pages_advised", &self.huge_pages_advised)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_are_zeroed_aligned_and_sized() {
        for len in [1usize, 7, 4096, 40_000, 100_000] {
            let mut s = HugeSlab::<[u64; 8]>::zeroed(len).expect("allocates");
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|v| v.iter().all(|&x| x == 0)));
            let bytes = len * 64;
            let addr = s.as_ptr() as usize;
            if bytes >= HUGE_PAGE {
                assert_eq!(addr % HUGE_PAGE, 0, "2 MiB-aligned");
            } else {
                assert_eq!(addr % 8, 0);
            }
            s[len - 1][7] = 9;
            s.prefetch(len - 1);
            s.prefetch(len);
            assert_eq!(s[len - 1][7], 9);
        }
        assert!(HugeSlab::<u64>::zeroed(0).is_none());
        assert!(HugeSlab::<u64>::zeroed(usize::MAX).is_none());
    }
}
