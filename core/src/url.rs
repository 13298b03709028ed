//! A small `no_std` parser for `ws://` and `wss://` URLs. (Being written.)
