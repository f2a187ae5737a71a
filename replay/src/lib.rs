//! tickwire replay (under construction).
