#include "emulator/arch.h"

namespace mmemu {

std::string_view arch_name(Arch a) {
    switch (a) {
    case Arch::i386: return "i386";
    case Arch::pae: return "pae";
    case Arch::x86_64: return "x86_64";
    }
    return "?";
}

std::optional<Arch> parse_arch(std::string_view s) {
    if (s == "i386") return Arch::i386;
    if (s == "pae") return Arch::pae;
    if (s == "x86_64") return Arch::x86_64;
    return std::nullopt;
}

uint64_t arch_max_phys_bytes(Arch a) {
    switch (a) {
    case Arch::i386: return uint64_t{1} << 32;
    case Arch::pae: return uint64_t{1} << 36;
    case Arch::x86_64: return uint64_t{1} << 46;
    }
    return 0;
}

} // namespace mmemu
