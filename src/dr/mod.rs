//! The DR arithmetic that needs neither Kafka nor I/O: values in, values out, unit- and
//! property-tested. Actions call it with what they read from the clusters and the
//! journal; nothing here reads or writes anything.

pub mod transactions;
