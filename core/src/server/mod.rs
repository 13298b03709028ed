//! The server role: a sans-IO Phoenix channel socket, one value per client connection,
//! the mirror of [`session::Client`](crate::session::Client). (Being written.)
