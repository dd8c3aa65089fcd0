//! Stack use, measured by painting.
//!
//! [`paint`] fills every word between the end of the statics and the caller's stack
//! pointer (less [`MARGIN`]) with [`PAINT`]; later, the lowest word that no longer holds
//! `PAINT` is the deepest the stack has grown since. [`high_water`] gives that depth
//! below the last `paint`'s stack pointer; [`peak`] gives the deepest point since boot
//! from the top of the stack, folding in every earlier paint window, provided the
//! entry point calls `paint` first thing.
//!
//! Exact to a word, unless the work happened to store `PAINT` itself at its deepest point
//! (an under-count of a few words); work that used less than `MARGIN` below a paint
//! reads as `MARGIN`.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Value painted into free stack words.
pub const PAINT: u32 = 0xDEAD_BEEF;

/// Bytes left unpainted just below the sampled stack pointer. The compiler may read the
/// stack pointer before `paint`'s prologue pushes its frame (it does at
/// `opt-level = "s"`), so that frame lies just below the sampled value and must not be
/// painted over.
pub const MARGIN: usize = 256;

/// Stack pointer sampled by the last [`paint`] (0: never painted).
static PAINTED_TOP: AtomicUsize = AtomicUsize::new(0);
/// Lowest stack address seen in use so far (`usize::MAX`: none yet).
static LOWEST: AtomicUsize = AtomicUsize::new(usize::MAX);

extern "C" {
    /// End of the statics in RAM, word-aligned (cortex-m-rt's `link.x`): the stack may
    /// grow down to here.
    static _stack_end: u32;
    /// Initial stack pointer: the top of RAM (cortex-m-rt's `link.x`).
    static _stack_start: u32;
}

fn stack_limit() -> usize {
    // Only the symbol's address is taken; nothing is read through it.
    core::ptr::addr_of!(_stack_end) as usize
}

fn stack_top() -> usize {
    // Only the symbol's address is taken; nothing is read through it.
    core::ptr::addr_of!(_stack_start) as usize
}

/// Lowest word in use below the last paint's stack pointer, folded into [`LOWEST`].
fn update_lowest() -> Option<usize> {
    let top = PAINTED_TOP.load(Ordering::Relaxed);
    if top == 0 {
        return None;
    }
    let end = top - MARGIN;
    let mut p = stack_limit();
    // SAFETY: as in `paint`, `[stack_limit, top - MARGIN)` is aligned RAM that no static
    // occupies; reading it is valid even where the stack has since grown and shrunk
    // again (those words hold dead frame data).
    while p < end && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    LOWEST.fetch_min(p, Ordering::Relaxed);
    Some(p)
}

/// Paints the free stack below the caller. Call it right before the work to measure.
#[inline(never)]
pub fn paint() {
    update_lowest();
    let sp = cortex_m::register::msp::read() as usize & !3;
    LOWEST.fetch_min(sp, Ordering::Relaxed);
    let end = sp - MARGIN;
    let mut p = stack_limit();
    while p < end {
        // SAFETY: `[stack_limit, sp - MARGIN)` lies between the last static and our own
        // frame (a few registers below the sampled `sp` at most, well within `MARGIN`):
        // no static and no live frame is there and, with no interrupts enabled on this
        // board, no exception frame either. It is aligned RAM, so the volatile word
        // store is valid and clobbers nothing live.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    PAINTED_TOP.store(sp, Ordering::Relaxed);
}

/// Bytes of stack used below the last [`paint`] call's stack pointer since it ran
/// (0 if [`paint`] never ran).
#[inline(never)]
pub fn high_water() -> usize {
    match update_lowest() {
        Some(lowest) => PAINTED_TOP.load(Ordering::Relaxed) - lowest,
        None => 0,
    }
}

/// Deepest stack use since boot, in bytes from the top of the stack (0 if [`paint`]
/// never ran). Counts everything since the first `paint`, and whatever was live at it.
#[inline(never)]
pub fn peak() -> usize {
    update_lowest();
    match LOWEST.load(Ordering::Relaxed) {
        usize::MAX => 0,
        lowest => stack_top() - lowest,
    }
}
