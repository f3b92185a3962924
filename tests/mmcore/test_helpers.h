// Shared helpers for the mmcore tests: booting small machines and reading buddyinfo rows.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "emulator/machine.h"
#include "mmcore/kernel.h"
#include "system/system.h"

namespace mmemu::test {

inline constexpr uint64_t KiB = uint64_t{1} << 10;
inline constexpr uint64_t MiB = uint64_t{1} << 20;
inline constexpr uint64_t GiB = uint64_t{1} << 30;

// A machine and the kernel booted on it, built by System as every machine is.
struct Booted {
    std::unique_ptr<System> sys;
    Machine& m;
    Kernel& k;
    explicit Booted(const MachineConfig& mc, const KernelConfig& kc = KernelConfig{})
        : sys(boot(mc, kc)), m(sys->machine()), k(sys->kernel()) {}
    zone& z(unsigned idx, unsigned nid = 0) { return k.buddy.nodes.at(nid).node_zones[idx]; }
    static std::unique_ptr<System> boot(const MachineConfig& mc, const KernelConfig& kc) {
        BootResult r = System::boot(SystemConfig{mc, kc});
        if (!r.ok()) throw std::invalid_argument(r.error);
        return std::move(r.system);
    }
};

inline MachineConfig machine(Arch a, uint64_t bytes, unsigned cpus = 1,
                             std::vector<NumaNodeRange> nodes = {}) {
    MachineConfig mc;
    mc.arch = a;
    mc.memory_bytes = bytes;
    mc.nr_cpus = cpus;
    mc.nodes = std::move(nodes);
    return mc;
}

inline KernelConfig no_pcp() {
    KernelConfig c;
    c.pcp_enabled = false;
    return c;
}

// /proc/buddyinfo row: free_area[order].nr_free for orders 0..10.
using Row = std::array<uint64_t, MAX_ORDER>;
inline Row buddyinfo(const zone& z) {
    Row r{};
    for (unsigned o = 0; o < MAX_ORDER; o++) r[o] = z.free_area[o].nr_free;
    return r;
}
// r0 + delta, for rows predicted as changes from a known starting row.
inline Row plus(const Row& r0, const std::array<int64_t, MAX_ORDER>& d) {
    Row r{};
    for (unsigned o = 0; o < MAX_ORDER; o++) r[o] = uint64_t(int64_t(r0[o]) + d[o]);
    return r;
}

inline uint64_t pfn_of(const Kernel& k, const page* p) {
    return k.buddy.mem_map().page_to_pfn(p).value;
}

// The pfns on one free list, head first.
inline std::vector<uint64_t> free_list_pfns(const Kernel& k, const zone& z, unsigned order,
                                            unsigned mt) {
    std::vector<uint64_t> out;
    z.free_area[order].free_list[mt].for_each(k.buddy.mem_map(),
                                              [&](Pfn pfn) { out.push_back(pfn.value); });
    return out;
}

} // namespace mmemu::test
