// The firmware's physical memory map (BIOS e820), as a PC hands it to the kernel.
//
// mmemu's machines lay RAM out contiguously from address 0 (no PCI hole) and report the
// classic PC low-memory holes, as SeaBIOS does for a QEMU/KVM guest:
//   [0x00000000, 0x0009fc00) usable   conventional memory below the EBDA
//   [0x0009fc00, 0x000a0000) reserved  EBDA
//   [0x000f0000, 0x00100000) reserved  BIOS ROM
//   [0x00100000, RAM end)    usable
// (0xa0000-0xf0000, VGA and option ROMs, is not listed at all, as on real firmware.)
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace mmemu {

enum class E820Type : uint8_t { ram = 1, reserved = 2 };

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    E820Type type;
    uint64_t end() const { return addr + size; }
};

// The e820 table of a PC with `ram_bytes` of RAM (ram_bytes >= 2 MiB).
std::vector<E820Entry> pc_e820_table(uint64_t ram_bytes);

std::string_view e820_type_name(E820Type t);

} // namespace mmemu
