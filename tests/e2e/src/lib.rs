//! End-to-end tests live in `tests/`; `lbprobe` is the client they start
//! inside a network namespace and cgroup.
