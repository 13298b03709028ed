//! Randomness for WebSocket masks and keys (and the reconnect jitter's seed).
//!
//! RFC 6455 masks client frames so that a cache or proxy on the path cannot be fed bytes of
//! the client's choosing; what the masks need is to be unpredictable to whoever chooses
//! the payload, not cryptographic secrecy (the key is a nonce, not a secret). The MPS2
//! board has no hardware RNG, so this is a small PRNG (xorshift64*, Vigna 2016: fast, 8
//! bytes of state, good statistical quality) stirred on every draw with timing the program
//! does not control: the clock and the SysTick counter (25 counts per microsecond). Draws
//! happen when the outside world acts: a key once the bridge has dialled, a mask for each
//! frame sent after a message or a timer, so their timing varies with the host and the
//! network. On a board with a TRNG (STM32's RNG, nRF's RNG peripheral) seed from it
//! instead and keep the rest.

use fawkes_core::ws::RngCore;

use crate::clock::Clock;

/// xorshift64* seeded and stirred with event timing.
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded from the clock at the time of the call.
    pub fn from_clock() -> Self {
        let mut rng = Rng {
            state: 0x9E37_79B9_7F4A_7C15,
        };
        rng.stir();
        rng
    }

    /// Mixes in where within the current millisecond (and which millisecond) we are.
    fn stir(&mut self) {
        let sample = (Clock::millis() << 32) | u64::from(Clock::sub_millisecond());
        // SplitMix64's finaliser spreads the few varying bits over the whole word.
        let mut z = sample.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.state ^= z ^ (z >> 31);
        if self.state == 0 {
            // xorshift's one fixed point.
            self.state = 0x9E37_79B9_7F4A_7C15;
        }
    }
}

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.stir();
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}
