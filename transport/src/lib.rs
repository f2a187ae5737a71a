//! tickwire transport (under construction).
