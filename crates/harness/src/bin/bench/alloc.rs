//! The counting global allocator of the bench binary: live heap bytes, for the memory store's
//! bytes per membership. Installed in `main.rs`, in this binary alone.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes, for the memory store's bytes per membership.
pub(crate) struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Heap bytes allocated and not yet freed, by the whole process.
pub(crate) fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}
