//! Pure state machines. Nothing here reads a clock, sleeps or does I/O:
//! time arrives as an argument and effects are returned as data.
