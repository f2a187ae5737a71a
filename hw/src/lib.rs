//! tickwire hw (under construction).
