//! The stack's high-water mark by painting: cortex-m-rt (feature `paint-stack`) fills the
//! whole stack region with `0xCCCC_CCCC` before `main`; the deepest word no longer holding
//! the pattern is as far as the stack has ever reached.

use cortex_m_rt::STACK_PAINT_VALUE;

extern "C" {
    /// The lowest address of the stack region (the end of `.bss` and `.uninit`).
    static _stack_end: u32;
    /// The initial stack pointer (the top of RAM).
    static _stack_start: u32;
}

/// The deepest the stack has been, and the stack region's size, in bytes.
pub fn peak() -> (usize, usize) {
    // Only the symbols' addresses are taken (the linker script defines both).
    let (bottom, top) = (
        core::ptr::addr_of!(_stack_end) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    );
    let mut word = bottom;
    // SAFETY: every word between the two symbols is RAM; reading it has no side effect.
    while word < top && unsafe { core::ptr::read_volatile(word as *const u32) } == STACK_PAINT_VALUE
    {
        word += 4;
    }
    (top - word, top - bottom)
}
