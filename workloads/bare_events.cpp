// Bare-machine events (docs/scenario-format.md, "Bare-machine scenarios"): the scenario sets
// control registers and MSRs, writes physical memory, and performs accesses with expectations,
// with no kernel in between. This is how page-walk semantics are tested and taught.
#include <set>

#include "emulator/fault.h"
#include "emulator/linux_gdt.h"
#include "emulator/paging.h"
#include "emulator/segmentation.h"
#include "workloads/scenario_parts.h"

namespace mmemu {

namespace {

// write_phys / expect_phys data: "bytes" (a hex string or an array of 0..255), "u32" or "u64"
// (arrays of numbers, stored little-endian).
bool parse_data(Checker& ck, const json& e, const std::string& p, std::vector<uint8_t>& out) {
    int forms = 0;
    if (e.contains("bytes")) {
        forms++;
        const json& b = e["bytes"];
        if (b.is_string()) {
            std::string hex;
            for (char c : b.get<std::string>())
                if (c != ' ' && c != ':') hex += c;
            if (hex.size() % 2) {
                ck.error(p + "/bytes", "expected an even number of hex digits");
                return false;
            }
            for (size_t i = 0; i < hex.size(); i += 2) {
                try {
                    size_t used = 0;
                    const unsigned long v = std::stoul(hex.substr(i, 2), &used, 16);
                    if (used != 2) throw 0;
                    out.push_back(uint8_t(v));
                } catch (...) {
                    ck.error(p + "/bytes", "expected hex digits, got \"" + hex.substr(i, 2) + "\"");
                    return false;
                }
            }
        } else if (b.is_array()) {
            for (size_t i = 0; i < b.size(); i++) {
                auto v = Checker::number(b[i]);
                if (!v || *v > 255) {
                    ck.error(p + "/bytes/" + std::to_string(i),
                             "expected a byte (0 to 255), got " + type_name(b[i]));
                    return false;
                }
                out.push_back(uint8_t(*v));
            }
        } else {
            ck.error(p + "/bytes",
                     "expected a hex string or an array of bytes, got " + type_name(b));
            return false;
        }
    }
    for (const char* key : {"u32", "u64"}) {
        if (!e.contains(key)) continue;
        forms++;
        const bool wide = std::string(key) == "u64";
        const json& a = e[key];
        if (!a.is_array() || a.empty()) {
            ck.error(p + "/" + key, std::string("expected a non-empty array of ") +
                                        (wide ? "64" : "32") + "-bit numbers");
            return false;
        }
        for (size_t i = 0; i < a.size(); i++) {
            auto v = Checker::number(a[i]);
            if (!v || (!wide && *v > 0xffffffffull)) {
                ck.error(p + "/" + key + "/" + std::to_string(i),
                         std::string("expected a ") + (wide ? "64" : "32") +
                             "-bit number such as \"0x1003\", got " + type_name(a[i]));
                return false;
            }
            for (unsigned k = 0; k < (wide ? 8u : 4u); k++) out.push_back(uint8_t(*v >> (8 * k)));
        }
    }
    if (forms != 1) {
        ck.error(p, "expected exactly one of \"bytes\", \"u32\" or \"u64\"");
        return false;
    }
    return true;
}

// load_segment's "reg": "ldtr" (LLDT).
constexpr int8_t LDTR_INDEX = 6;

// "es", "cs", "ss", "ds", "fs", "gs" in SegReg order.
std::optional<int8_t> parse_seg_reg(const std::string& s) {
    static const char* names[] = {"es", "cs", "ss", "ds", "fs", "gs"};
    for (int i = 0; i < 6; i++)
        if (s == names[i]) return int8_t(i);
    return std::nullopt;
}

std::optional<uint8_t> parse_vector(const std::string& s) {
    if (s == "#PF") return VEC_PF;
    if (s == "#GP") return VEC_GP;
    if (s == "#SS") return VEC_SS;
    if (s == "#NP") return VEC_NP;
    return std::nullopt;
}

} // namespace

void parse_bare_events(Checker& ck, const json& events, Scenario& sc) {
    const int max_cpu = int(sc.machine.nr_cpus) - 1;
    const uint64_t ram = sc.machine.memory_bytes;
    parse_event_list(
        ck, events, sc, "bare-machine event",
        "set_cr, wrmsr, set_rflags, wrpkru, write_phys, expect_phys, access, invlpg, "
        "invpcid, load_gdt, lgdt, load_segment or checkpoint",
        [&](const json& e, const std::string& p, const std::string& o, Op& op) -> bool {
            auto cpu = [&] {
                if (auto c = ck.integer(e, p, "cpu", 0, max_cpu, 0)) op.cpu = uint16_t(*c);
            };
            auto phys_range = [&](uint64_t addr, uint64_t len, const char* key) {
                if (addr > ram || len > ram - addr)
                    ck.error(p + "/" + key, "expected an address inside the machine's " +
                                                std::to_string(ram) +
                                                " bytes of RAM, got a range ending at " +
                                                std::to_string(addr + len));
            };
            if (o == "set_cr") {
                op.kind = OpKind::set_cr;
                ck.only(e, p, {"op", "cr", "value", "cpu"});
                if (auto v = ck.integer(e, p, "cr", 0, 4, std::nullopt)) {
                    if (*v == 1 || *v == 2)
                        ck.error(p + "/cr", "expected 0, 3 or 4 (CR2 is written by page faults; "
                                            "CR1 does not exist)");
                    op.reg = uint8_t(*v);
                }
                if (auto v = ck.u64(e, p, "value", std::nullopt)) op.value = *v;
                cpu();
            } else if (o == "wrmsr") {
                op.kind = OpKind::wrmsr;
                ck.only(e, p, {"op", "msr", "value", "cpu"});
                if (auto m = ck.string(e, p, "msr", std::nullopt))
                    if (*m != "IA32_EFER")
                        ck.error(p + "/msr", "expected \"IA32_EFER\" (the only MSR that affects "
                                             "paging here), got \"" +
                                                 *m + "\"");
                if (auto v = ck.u64(e, p, "value", std::nullopt)) op.value = *v;
                cpu();
            } else if (o == "set_rflags" || o == "wrpkru") {
                op.kind = o == "set_rflags" ? OpKind::set_rflags : OpKind::wrpkru;
                ck.only(e, p, {"op", "value", "cpu"});
                if (auto v = ck.u64(e, p, "value", std::nullopt)) {
                    if (op.kind == OpKind::wrpkru && *v > 0xffffffffull)
                        ck.error(p + "/value", "expected a 32-bit PKRU value");
                    op.value = *v;
                }
                cpu();
            } else if (o == "write_phys" || o == "expect_phys") {
                op.kind = o == "write_phys" ? OpKind::write_phys : OpKind::expect_phys;
                ck.only(e, p, {"op", "addr", "bytes", "u32", "u64"});
                std::vector<uint8_t> data;
                auto addr = ck.u64(e, p, "addr", std::nullopt);
                if (parse_data(ck, e, p, data) && addr) {
                    phys_range(*addr, data.size(), "addr");
                    op.la = *addr;
                    op.blob = uint32_t(sc.blobs.size());
                    sc.blobs.push_back(std::move(data));
                }
            } else if (o == "access") {
                op.kind = OpKind::access;
                ck.only(e, p,
                        {"op", "type", "la", "seg", "offset", "size", "cpl", "implicit", "value",
                         "expect", "cpu"});
                if (auto t = ck.string(e, p, "type", std::nullopt)) {
                    if (*t == "read")
                        op.access = uint8_t(AccessType::read);
                    else if (*t == "write")
                        op.access = uint8_t(AccessType::write);
                    else if (*t == "fetch")
                        op.access = uint8_t(AccessType::fetch);
                    else
                        ck.error(p + "/type",
                                 "expected \"read\", \"write\" or \"fetch\", got \"" + *t + "\"");
                }
                if (e.contains("seg")) {
                    if (e.contains("la"))
                        ck.error(p + "/la",
                                 "give either \"la\" or \"seg\" with \"offset\", not both");
                    if (auto r = ck.string(e, p, "seg", std::nullopt)) {
                        if (auto sr = parse_seg_reg(*r))
                            op.seg = *sr;
                        else
                            ck.error(p + "/seg", "expected \"cs\", \"ds\", \"es\", \"fs\", \"gs\" "
                                                 "or \"ss\", got \"" +
                                                     *r + "\"");
                    }
                    if (auto off = ck.u64(e, p, "offset", std::nullopt)) op.la = *off;
                } else if (auto la = ck.u64(e, p, "la", std::nullopt)) {
                    op.la = *la;
                }
                if (auto s = ck.integer(e, p, "size", 1, 8, 1)) {
                    if (*s != 1 && *s != 2 && *s != 4 && *s != 8)
                        ck.error(p + "/size", "expected 1, 2, 4 or 8 bytes");
                    op.size = uint64_t(*s);
                }
                if (auto c = ck.integer(e, p, "cpl", 0, 3, 0)) {
                    op.user = *c == 3;
                    op.cpl = uint8_t(*c);
                }
                if (auto v = ck.boolean(e, p, "implicit", false)) op.implicit = *v;
                if (e.contains("value")) {
                    if (op.access != uint8_t(AccessType::write))
                        ck.error(p + "/value", "only a write carries a value");
                    if (auto v = ck.u64(e, p, "value", std::nullopt)) op.value = *v;
                }
                if (e.contains("expect")) {
                    const json& x = e["expect"];
                    const std::string xp = p + "/expect";
                    AccessExpect ex;
                    if (!x.is_object()) {
                        ck.error(xp,
                                 "expected an object such as {\"pa\": \"0x5000\"} or {\"fault\": "
                                 "\"#PF\", \"error_code\": \"0x7\"}");
                    } else {
                        ck.only(x, xp, {"pa", "page_size", "value", "fault", "error_code"});
                        if (x.contains("fault")) {
                            auto f = ck.string(x, xp, "fault", std::nullopt);
                            if (f) {
                                if (auto vec = parse_vector(*f)) {
                                    ex.fault = true;
                                    ex.vector = *vec;
                                } else {
                                    ck.error(
                                        xp + "/fault",
                                        "expected \"#PF\", \"#GP\", \"#SS\" or \"#NP\", got \"" +
                                            *f + "\"");
                                }
                            }
                            if (x.contains("pa") || x.contains("value") || x.contains("page_size"))
                                ck.error(xp, "a faulting access has no pa, page_size or value");
                            if (x.contains("error_code"))
                                if (auto v = ck.u64(x, xp, "error_code", std::nullopt))
                                    ex.error_code = uint32_t(*v);
                        } else {
                            if (x.contains("error_code"))
                                ck.error(xp + "/error_code", "an error code needs \"fault\"");
                            if (x.contains("pa")) ex.pa = ck.u64(x, xp, "pa", std::nullopt);
                            if (x.contains("page_size")) {
                                auto s = ck.size(x, xp, "page_size", std::nullopt);
                                if (s && *s != 4096 && *s != (2u << 20) && *s != (4u << 20) &&
                                    *s != (1u << 30))
                                    ck.error(xp + "/page_size",
                                             "expected 4KiB, 2MiB, 4MiB or 1GiB");
                                if (s) ex.page_size = unsigned(*s);
                            }
                            if (x.contains("value")) {
                                if (op.access == uint8_t(AccessType::write))
                                    ck.error(xp + "/value", "only a read or fetch returns a value");
                                ex.value = ck.u64(x, xp, "value", std::nullopt);
                            }
                        }
                        op.expect = int32_t(sc.expects.size());
                        sc.expects.push_back(ex);
                    }
                }
                cpu();
            } else if (o == "invlpg") {
                op.kind = OpKind::invlpg;
                ck.only(e, p, {"op", "la", "cpu"});
                if (auto la = ck.u64(e, p, "la", std::nullopt)) op.la = *la;
                cpu();
            } else if (o == "invpcid") {
                op.kind = OpKind::invpcid;
                ck.only(e, p, {"op", "type", "pcid", "la", "cpu"});
                if (auto t = ck.integer(e, p, "type", 0, 3, std::nullopt)) op.reg = uint8_t(*t);
                if (auto v = ck.integer(e, p, "pcid", 0, 4095, 0)) op.value = uint64_t(*v);
                if (auto la = ck.u64(e, p, "la", 0)) op.la = *la;
                cpu();
            } else if (o == "load_gdt") {
                op.kind = OpKind::load_gdt;
                ck.only(e, p, {"op", "layout", "addr", "base", "cpu"});
                if (auto l = ck.string(e, p, "layout", std::nullopt)) {
                    if (*l == "linux_i386")
                        op.reg = 0;
                    else if (*l == "linux_boot")
                        op.reg = 1;
                    else if (*l == "linux_x86_64")
                        op.reg = 2;
                    else
                        ck.error(
                            p + "/layout",
                            "expected \"linux_i386\", \"linux_boot\" or \"linux_x86_64\", got \"" +
                                *l + "\"");
                }
                if (auto a = ck.u64(e, p, "addr", std::nullopt)) {
                    phys_range(*a, 32 * 8, "addr");
                    op.la = *a;
                    op.value = *a;
                }
                if (auto b = ck.u64(e, p, "base", op.la))
                    op.value = *b; // the table's linear address
                cpu();
            } else if (o == "lgdt") {
                op.kind = OpKind::lgdt;
                ck.only(e, p, {"op", "base", "limit", "cpu"});
                if (auto b = ck.u64(e, p, "base", std::nullopt)) op.la = *b;
                if (auto l = ck.integer(e, p, "limit", 0, 0xffff, std::nullopt))
                    op.value = uint64_t(*l);
                cpu();
            } else if (o == "load_segment") {
                op.kind = OpKind::load_segment;
                ck.only(e, p, {"op", "reg", "selector", "cpl", "expect", "cpu"});
                if (auto r = ck.string(e, p, "reg", std::nullopt)) {
                    if (*r == "ldtr")
                        op.seg = LDTR_INDEX;
                    else if (auto sr = parse_seg_reg(*r))
                        op.seg = *sr;
                    else
                        ck.error(
                            p + "/reg",
                            "expected \"cs\", \"ds\", \"es\", \"fs\", \"gs\" or \"ss\", got \"" +
                                *r + "\"");
                }
                if (auto v = ck.u64(e, p, "selector", std::nullopt)) {
                    if (*v > 0xffff) ck.error(p + "/selector", "expected a 16-bit selector");
                    op.value = *v;
                }
                if (auto c = ck.integer(e, p, "cpl", 0, 3, 0)) op.cpl = uint8_t(*c);
                if (e.contains("expect")) {
                    const json& x = e["expect"];
                    const std::string xp = p + "/expect";
                    AccessExpect ex;
                    if (!x.is_object()) {
                        ck.error(xp, "expected {} (success) or {\"fault\": \"#GP\", "
                                     "\"error_code\": \"0x68\"}");
                    } else {
                        ck.only(x, xp, {"fault", "error_code"});
                        if (auto f = ck.string(x, xp, "fault", std::string())) {
                            if (!f->empty()) {
                                if (auto vec = parse_vector(*f)) {
                                    ex.fault = true;
                                    ex.vector = *vec;
                                } else {
                                    ck.error(
                                        xp + "/fault",
                                        "expected \"#GP\", \"#SS\", \"#NP\" or \"#PF\", got \"" +
                                            *f + "\"");
                                }
                            }
                        }
                        if (x.contains("error_code"))
                            if (auto v = ck.u64(x, xp, "error_code", std::nullopt))
                                ex.error_code = uint32_t(*v);
                        op.expect = int32_t(sc.expects.size());
                        sc.expects.push_back(ex);
                    }
                }
                cpu();
            } else {
                return false;
            }
            return true;
        });
}

} // namespace mmemu
