//! The process allocator: small blocks from mimalloc, large ones from the system allocator.
//!
//! Under alert intake the request path makes ~290 heap allocations per alert (headers, JSON values, label maps,
//! SQL rows), and glibc's malloc/free took ~24 % of the server's instructions on them (its slow paths and
//! consolidation passes; callgrind, bench/RESULTS.md session 15). mimalloc as the only allocator was tried in
//! session 7 and dropped: the reconciliation engine, which holds large buffers, ran 1.5× slower with twice the
//! memory. So the split is by size: the many small short-lived blocks (HTTP buffers included) go to mimalloc,
//! everything larger than [`SMALL`] (the reconciliation engine's buffers and tables) stays with the system
//! allocator. SQLite allocates through libc directly and is not affected. Which allocator owns a block follows from its layout alone, which Rust passes to every `dealloc`
//! and `realloc`, so no block is ever freed by the allocator that did not make it.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Blocks of at most this many bytes come from mimalloc.
pub const SMALL: usize = 32 * 1024;

/// The size-split allocator (see the module).
pub struct Split;

fn small(size: usize) -> bool {
    size <= SMALL
}

// SAFETY: every block is allocated and freed by the same allocator, chosen by the size in its layout; a realloc
// that crosses the boundary allocates in the other one, copies and frees the old block with its own layout.
unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if small(layout.size()) {
            MiMalloc.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if small(layout.size()) {
            MiMalloc.alloc_zeroed(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if small(layout.size()) {
            MiMalloc.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (small(layout.size()), small(new_size)) {
            (true, true) => MiMalloc.realloc(ptr, layout, new_size),
            (false, false) => System.realloc(ptr, layout, new_size),
            _ => {
                // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not overflow.
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grows a block from a few bytes through the boundary to several pages and back, checking its bytes each
    /// time: a realloc across the boundary must move the contents and free the old block in its own allocator.
    #[test]
    fn realloc_across_the_size_boundary_keeps_the_contents() {
        let a = Split;
        let align = 8;
        unsafe {
            let mut size = 8;
            let mut p = a.alloc(Layout::from_size_align(size, align).unwrap());
            assert!(!p.is_null());
            for i in 0..size {
                *p.add(i) = i as u8;
            }
            for new_size in [
                SMALL - 1,
                SMALL,
                SMALL + 1,
                3 * SMALL,
                64 * 1024,
                SMALL + 1,
                SMALL,
                16,
                8,
            ] {
                p = a.realloc(p, Layout::from_size_align(size, align).unwrap(), new_size);
                assert!(!p.is_null());
                let kept = size.min(new_size);
                for i in 0..kept {
                    assert_eq!(
                        *p.add(i),
                        (i % 251) as u8,
                        "byte {i} after {size} -> {new_size}"
                    );
                }
                for i in kept..new_size {
                    *p.add(i) = (i % 251) as u8;
                }
                size = new_size;
            }
            a.dealloc(p, Layout::from_size_align(size, align).unwrap());
            let z = a.alloc_zeroed(Layout::from_size_align(4 * SMALL, 64).unwrap());
            assert!(!z.is_null() && (0..4 * SMALL).all(|i| *z.add(i) == 0));
            assert_eq!(z as usize % 64, 0);
            a.dealloc(z, Layout::from_size_align(4 * SMALL, 64).unwrap());
        }
    }
}
