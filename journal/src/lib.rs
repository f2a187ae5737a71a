//! tickwire journal (under construction).
