//! tickwire feedhandler (under construction).
