//! How the process takes memory from the operating system.

/// Turns transparent huge pages off for this process, before it serves anything.
///
/// mimalloc asks the kernel for huge pages on its arenas and hands freed memory back page by
/// page; touching such memory again faults in, and zeroes, a whole 2 MiB page. A profile of a
/// 10,000-member bulk role change (`benches/bulk.rs`, PostgreSQL) found half of the service's
/// CPU in the kernel zeroing those pages; without huge pages the change took 1.1 s instead of
/// 1.5 s. The setting covers the whole process, including memory mapped already.
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(error = %e, "cannot turn transparent huge pages off; memory stays as the kernel gives it");
    }
}
