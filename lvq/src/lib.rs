//! tickwire lvq (under construction).
