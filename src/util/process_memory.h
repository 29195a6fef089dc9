// Memory of this process, of a child and of the host, as Linux reports it in /proc. Every reader
// returns 0 where the file cannot be read (no /proc): callers treat 0 as "not measured".
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace clinbench {

// Resets this process's peak resident set (VmHWM) to its current resident set, so that
// peak_rss_bytes() afterwards reads the peak of what ran in between (Linux 4.0 and later, through
// /proc/self/clear_refs). False where the kernel does not allow it (a read-only /proc, a kernel
// without it): the peak then covers the process's whole life so far.
bool reset_peak_rss();

// VmHWM: the peak resident set of this process since it started or since reset_peak_rss(), in
// bytes.
uint64_t peak_rss_bytes();

// VmRSS: the resident set of this process now, in bytes.
uint64_t current_rss_bytes();

// RssAnon + RssShmem of process pid, in bytes: what a host-memory budget counts (file-backed
// pages of a mapped model can be dropped and read again; anonymous and shared ones cannot).
uint64_t resident_anon_shmem_bytes(pid_t pid);

// MemAvailable from /proc/meminfo, in bytes: what can be allocated without swapping.
uint64_t available_host_memory_bytes();

}  // namespace clinbench
