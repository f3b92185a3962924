#include "emulator/e820.h"

namespace mmemu {

std::vector<E820Entry> pc_e820_table(uint64_t ram_bytes) {
    constexpr uint64_t ebda = 0x9fc00, low_end = 0xa0000, bios = 0xf0000, one_mib = 0x100000;
    std::vector<E820Entry> t;
    t.push_back({0, ebda, E820Type::ram});
    t.push_back({ebda, low_end - ebda, E820Type::reserved});
    t.push_back({bios, one_mib - bios, E820Type::reserved});
    if (ram_bytes > one_mib) t.push_back({one_mib, ram_bytes - one_mib, E820Type::ram});
    return t;
}

std::string_view e820_type_name(E820Type t) {
    return t == E820Type::ram ? "usable" : "reserved";
}

} // namespace mmemu
