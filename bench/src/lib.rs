//! tickwire bench (under construction).
