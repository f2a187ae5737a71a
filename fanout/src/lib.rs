//! tickwire fanout (under construction).
