//! Which notices a screen shows, and in what order.
