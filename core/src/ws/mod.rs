//! WebSocket client codec (RFC 6455).
