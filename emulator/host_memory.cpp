#include "emulator/host_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mmemu {

void* reserve_lazy_host_memory(uint64_t bytes, const char* what) {
    if (bytes == 0) return nullptr;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(std::string("cannot reserve ") + std::to_string(bytes) +
                                 " bytes of host address space for " + what + ": " +
                                 std::strerror(errno));
#ifdef MADV_HUGEPAGE
    // Best effort: hosts without THP simply refuse.
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void release_lazy_host_memory(void* p, uint64_t bytes) {
    if (p) munmap(p, bytes);
}

uint64_t host_rss_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2) return 0;
    return uint64_t(resident) * uint64_t(sysconf(_SC_PAGESIZE));
}

} // namespace mmemu
