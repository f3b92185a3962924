#include "emulator/descriptor.h"

#include <array>

namespace mmemu {

// SDM Vol. 3A 3.4.5.1, Table 3-1 "Code- and Data-Segment Types".
std::string_view code_data_type_name(uint8_t type) {
    static constexpr std::array<std::string_view, 16> names = {
        "Read-Only",                          // 0 data
        "Read-Only, accessed",                // 1
        "Read/Write",                         // 2
        "Read/Write, accessed",               // 3
        "Read-Only, expand-down",             // 4
        "Read-Only, expand-down, accessed",   // 5
        "Read/Write, expand-down",            // 6
        "Read/Write, expand-down, accessed",  // 7
        "Execute-Only",                       // 8 code
        "Execute-Only, accessed",             // 9
        "Execute/Read",                       // 10
        "Execute/Read, accessed",             // 11
        "Execute-Only, conforming",           // 12
        "Execute-Only, conforming, accessed", // 13
        "Execute/Read, conforming",           // 14
        "Execute/Read, conforming, accessed", // 15
    };
    return names[type & 0xf];
}

// SDM Vol. 3A 3.5, Table 3-2 "System-Segment and Gate-Descriptor Types".
std::string_view system_type_name(uint8_t type, bool ia32e) {
    static constexpr std::array<std::string_view, 16> legacy = {
        "Reserved",               // 0
        "16-bit TSS (Available)", // 1
        "LDT",                    // 2
        "16-bit TSS (Busy)",      // 3
        "16-bit Call Gate",       // 4
        "Task Gate",              // 5
        "16-bit Interrupt Gate",  // 6
        "16-bit Trap Gate",       // 7
        "Reserved",               // 8
        "32-bit TSS (Available)", // 9
        "Reserved",               // 10
        "32-bit TSS (Busy)",      // 11
        "32-bit Call Gate",       // 12
        "Reserved",               // 13
        "32-bit Interrupt Gate",  // 14
        "32-bit Trap Gate",       // 15
    };
    static constexpr std::array<std::string_view, 16> ia32e_names = {
        "Upper 8 bytes of a 16-byte descriptor", // 0
        "Reserved",                              // 1
        "LDT",                                   // 2
        "Reserved",                              // 3
        "Reserved",                              // 4
        "Reserved",                              // 5
        "Reserved",                              // 6
        "Reserved",                              // 7
        "Reserved",                              // 8
        "64-bit TSS (Available)",                // 9
        "Reserved",                              // 10
        "64-bit TSS (Busy)",                     // 11
        "64-bit Call Gate",                      // 12
        "Reserved",                              // 13
        "64-bit Interrupt Gate",                 // 14
        "64-bit Trap Gate",                      // 15
    };
    return ia32e ? ia32e_names[type & 0xf] : legacy[type & 0xf];
}

} // namespace mmemu
