//! A monotonic millisecond clock from SysTick: the core's timer interrupts every
//! millisecond and the handler counts. The session reads it through [`Clock::now`]; it never
//! reads a clock itself.

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use fawkes_core::time::Instant;

/// The core clock of the MPS2 AN386 image, which SysTick counts.
const CORE_CLOCK_HZ: u32 = 25_000_000;

/// Milliseconds since [`Clock::start`]; a `u64` never wraps (the session's time is `u64`
/// milliseconds too), so it is read and written in a critical section.
static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// The millisecond clock.
pub struct Clock {
    _systick: SYST,
}

impl Clock {
    /// Starts SysTick at 1 kHz with its interrupt on.
    pub fn start(mut systick: SYST) -> Self {
        systick.set_clock_source(SystClkSource::Core);
        systick.set_reload(CORE_CLOCK_HZ / 1000 - 1);
        systick.clear_current();
        systick.enable_interrupt();
        systick.enable_counter();
        Clock { _systick: systick }
    }

    /// Milliseconds since the clock started.
    pub fn millis() -> u64 {
        interrupt::free(|cs| MILLIS.borrow(cs).get())
    }

    /// The time, for the session.
    pub fn now(&self) -> Instant {
        Instant::from_millis(Self::millis())
    }

    /// The SysTick counter's current value (it counts down from 24,999 every millisecond):
    /// where within the millisecond an external event fell, for the RNG.
    pub fn sub_millisecond() -> u32 {
        // SAFETY: a read of SYST_CVR, which has no side effect.
        unsafe { (*SYST::PTR).cvr.read() }
    }

    /// Waits (asleep between ticks) until `millis` is reached.
    pub fn sleep_until(&self, millis: u64) {
        while Self::millis() < millis {
            cortex_m::asm::wfi();
        }
    }
}

#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let millis = MILLIS.borrow(cs);
        millis.set(millis.get() + 1);
    });
}
