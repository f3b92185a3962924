#include "emulator/addr.h"

#include <cstdio>

namespace mmemu {

std::string hex_digits(uint64_t v, int digits) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%0*llx", digits, static_cast<unsigned long long>(v));
    return buf;
}

std::string hex(uint64_t v) {
    return hex_digits(v, 0);
}

std::string to_string(PhysAddr pa) {
    return hex(pa.value);
}

std::string to_string(LinearAddr la) {
    return hex(la.value);
}

std::string to_string(Pfn pfn) {
    return std::to_string(pfn.value);
}

} // namespace mmemu
