#include "emulator/fault.h"

#include "emulator/descriptor.h"

namespace mmemu {

const char* vector_name(uint8_t v) {
    switch (v) {
    case VEC_PF: return "#PF";
    case VEC_GP: return "#GP";
    case VEC_SS: return "#SS";
    case VEC_NP: return "#NP";
    }
    return "#?";
}

namespace {
const char* seg_name(uint8_t seg) {
    static const char* names[] = {"ES", "CS", "SS", "DS", "FS", "GS", "LDTR"};
    return seg <= FAULT_SEG_LDTR ? names[seg] : "?";
}
} // namespace

std::string fault_message(const Fault& f) {
    if (!f.raised()) return "no fault";
    std::string s = std::string(vector_name(f.vector)) + "(" + hex(f.error_code) + "): " + f.rule;
    std::string ctx;
    auto add = [&](const std::string& part) { ctx += (ctx.empty() ? "" : ", ") + part; };
    if (f.vector == VEC_PF) add("CR2 " + to_string(f.cr2));
    if (f.seg != FAULT_NO_SEG) add(seg_name(f.seg));
    if (f.context & FAULT_CTX_SELECTOR)
        add("selector " + hex(f.selector) + " (index " + std::to_string(f.selector >> 3) +
            (f.selector & SEGMENT_TI_MASK ? ", LDT" : ", GDT") + ", RPL " +
            std::to_string(f.selector & SEGMENT_RPL_MASK) + ")");
    if (f.context & FAULT_CTX_CPL) add("CPL " + std::to_string(f.cpl));
    if (f.context & FAULT_CTX_DESC) {
        const Descriptor d = Descriptor::decode(f.desc);
        add("descriptor " + hex_digits(f.desc, 16) + " \"" + std::string(d.type_name()) +
            "\" (S=" + std::to_string(int(d.s)) + ", DPL " + std::to_string(int(d.dpl)) +
            ", P=" + std::to_string(int(d.p)) + ")");
    }
    if (f.context & FAULT_CTX_ACCESS)
        add("bytes [" + hex(f.offset) + ", " + hex(f.offset + (f.size ? f.size - 1 : 0)) + "]");
    if (f.context & FAULT_CTX_LIMIT) add("limit " + hex(f.limit));
    if (!ctx.empty()) s += " (" + ctx + ")";
    return s;
}

} // namespace mmemu
