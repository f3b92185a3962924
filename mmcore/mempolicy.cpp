// Memory policies' names and text (mm/mempolicy.c, Linux 6.18). Where a policy sends
// an allocation: AddressSpaces::alloc_pages_mpol() (mmcore/mempolicy_alloc.cpp).
#include "mmcore/mempolicy.h"

namespace mmemu {

namespace {

struct ModeName {
    MpolMode mode;
    const char* uapi; // the uapi constant
    const char* text; // policy_modes[] of mpol_to_str()
};

const ModeName kModes[] = {
    {MpolMode::DEFAULT, "MPOL_DEFAULT", "default"},
    {MpolMode::PREFERRED, "MPOL_PREFERRED", "prefer"},
    {MpolMode::BIND, "MPOL_BIND", "bind"},
    {MpolMode::INTERLEAVE, "MPOL_INTERLEAVE", "interleave"},
    {MpolMode::LOCAL, "MPOL_LOCAL", "local"},
    {MpolMode::PREFERRED_MANY, "MPOL_PREFERRED_MANY", "prefer (many)"},
    {MpolMode::WEIGHTED_INTERLEAVE, "MPOL_WEIGHTED_INTERLEAVE", "weighted interleave"},
};

} // namespace

std::string nodelist_str(uint64_t mask) {
    std::string s;
    for (unsigned n = 0; n < 64;) {
        if (!(mask >> n & 1)) {
            n++;
            continue;
        }
        unsigned end = n;
        while (end + 1 < 64 && (mask >> (end + 1) & 1)) end++;
        if (!s.empty()) s += ',';
        s += std::to_string(n);
        if (end > n) s += '-' + std::to_string(end);
        n = end + 1;
    }
    return s;
}

std::string mpol_to_str(const mempolicy& p) {
    if (!p.set) return "default";
    std::string s;
    for (const auto& m : kModes)
        if (m.mode == p.mode) s = m.text;
    switch (p.mode) {
    case MpolMode::DEFAULT:
    case MpolMode::LOCAL: return s;
    default: break;
    }
    if (p.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING)) {
        s += '=';
        if (p.flags & MPOL_F_STATIC_NODES)
            s += "static";
        else if (p.flags & MPOL_F_RELATIVE_NODES)
            s += "relative";
        if (p.flags & MPOL_F_NUMA_BALANCING) {
            if (p.flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)) s += '|';
            s += "balancing";
        }
    }
    s += ':' + nodelist_str(p.nodes);
    return s;
}

const char* mpol_mode_name(MpolMode m) {
    for (const auto& n : kModes)
        if (n.mode == m) return n.uapi;
    return "?";
}

} // namespace mmemu
