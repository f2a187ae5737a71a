//! tickwire amqp (under construction).
