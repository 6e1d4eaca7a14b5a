//! Pictures and videos uploaded for notices.
