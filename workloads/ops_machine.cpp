// The machine (CPU) op family of bare-machine scenarios (docs/scenario-format.md, "Bare-machine
// scenarios"): the scenario sets control registers and MSRs, writes physical memory, performs
// accesses through the CPU (segmentation, TLBs, walks, the bytes themselves) and states what it
// expects, with no kernel in between. This is how page-walk semantics are tested and taught.
#include "workloads/ops_machine.h"

#include "emulator/linux_gdt.h"
#include "system/system.h"
#include "workloads/results.h"

namespace mmemu {

namespace {

const FieldSpec F_CPU{"cpu", FieldKind::integer, false, 0, 63, {}, "the CPU (default 0)"};
const std::vector<const char*> SEG_CHOICES = {"es", "cs", "ss", "ds", "fs", "gs"};
const std::vector<const char*> VECTOR_CHOICES = {"#PF", "#GP", "#SS", "#NP"};
const uint8_t VECTORS[] = {VEC_PF, VEC_GP, VEC_SS, VEC_NP};

// The longest access a scenario may make in one event (a string access, like rep movs).
constexpr int64_t MAX_ACCESS_BYTES = int64_t{1} << 20;

Cpu& cpu_of(RunContext& cx, uint16_t cpu) {
    return cx.sys.machine().cpu(cpu);
}

// A TLB instruction of a bare scenario on the timeline (a kernel's flushes are traced in
// mmcore/tlb.cpp).
void trace_tlb_op(RunContext& cx, uint16_t cpu, const char* what, TraceArgs args) {
    const Machine& m = cx.sys.machine();
    if (Tracer* tr = m.tracer()) tr->instant(cpu, "tlb", what, m.cpu_ns(cpu), args);
}

// ---- registers ----------------------------------------------------------------------------------

struct SetReg final : Op {
    enum Which : uint8_t { cr0, cr3, cr4, efer, rflags, pkru } which = cr0;
    uint64_t value = 0;
    uint16_t cpu = 0;
    const char* name() const override {
        return which == efer     ? "wrmsr"
               : which == rflags ? "set_rflags"
               : which == pkru   ? "wrpkru"
                                 : "set_cr";
    }
    void run(RunContext& cx) const override {
        Mmu& mmu = cpu_of(cx, cpu).mmu;
        Fault f;
        switch (which) {
        case cr0: f = mmu.write_cr0(value); break;
        case cr3:
            f = mmu.write_cr3(value);
            if (!f.raised()) trace_tlb_op(cx, cpu, "MOV to CR3", {trace_hex("cr3", value)});
            break;
        case cr4: f = mmu.write_cr4(value); break;
        case efer: f = mmu.write_efer(value); break;
        case rflags: mmu.write_rflags(value); break;
        case pkru: mmu.write_pkru(uint32_t(value)); break;
        }
        if (f.raised()) cx.results.faults.push_back({event, f});
    }
};

std::unique_ptr<Op> parse_set_cr(OpParser& p) {
    auto op = std::make_unique<SetReg>();
    if (auto v = p.integer("cr", std::nullopt)) {
        if (*v == 1 || *v == 2)
            p.error("cr", "expected 0, 3 or 4 (CR2 is written by page faults; CR1 does not exist)");
        op->which = *v == 0 ? SetReg::cr0 : *v == 3 ? SetReg::cr3 : SetReg::cr4;
    }
    op->value = p.number("value", std::nullopt).value_or(0);
    op->cpu = p.cpu();
    return op;
}

std::unique_ptr<Op> parse_wrmsr(OpParser& p) {
    auto op = std::make_unique<SetReg>();
    op->which = SetReg::efer;
    p.choice("msr", std::nullopt);
    op->value = p.number("value", std::nullopt).value_or(0);
    op->cpu = p.cpu();
    return op;
}

std::unique_ptr<Op> parse_set_rflags(OpParser& p) {
    auto op = std::make_unique<SetReg>();
    op->which = SetReg::rflags;
    op->value = p.number("value", std::nullopt).value_or(0);
    op->cpu = p.cpu();
    return op;
}

std::unique_ptr<Op> parse_wrpkru(OpParser& p) {
    auto op = std::make_unique<SetReg>();
    op->which = SetReg::pkru;
    if (auto v = p.number("value", std::nullopt)) {
        if (*v > 0xffffffffull) p.error("value", "expected a 32-bit PKRU value");
        op->value = *v;
    }
    op->cpu = p.cpu();
    return op;
}

// ---- physical memory ------------------------------------------------------------------------

// write_phys / expect_phys data: "bytes" (a hex string or an array of 0..255), "u32" or "u64"
// (arrays of numbers, stored little-endian).
bool parse_data(OpParser& p, std::vector<uint8_t>& out) {
    int forms = 0;
    if (const json* b = p.raw("bytes")) {
        forms++;
        if (b->is_string()) {
            std::string hex;
            for (char c : b->get<std::string>())
                if (c != ' ' && c != ':') hex += c;
            if (hex.size() % 2) {
                p.error("bytes", "expected an even number of hex digits");
                return false;
            }
            for (size_t i = 0; i < hex.size(); i += 2) {
                const auto v = Checker::number(json("0x" + hex.substr(i, 2)));
                if (!v) {
                    p.error("bytes", "expected hex digits, got \"" + hex.substr(i, 2) + "\"");
                    return false;
                }
                out.push_back(uint8_t(*v));
            }
        } else if (b->is_array()) {
            for (size_t i = 0; i < b->size(); i++) {
                auto v = Checker::number((*b)[i]);
                if (!v || *v > 255) {
                    p.ck.error(p.field_path("bytes") + "/" + std::to_string(i),
                               "expected a byte (0 to 255), got " + type_name((*b)[i]));
                    return false;
                }
                out.push_back(uint8_t(*v));
            }
        } else {
            p.error("bytes", "expected a hex string or an array of bytes, got " + type_name(*b));
            return false;
        }
    }
    for (const char* key : {"u32", "u64"}) {
        const json* a = p.raw(key);
        if (!a) continue;
        forms++;
        const bool wide = std::string(key) == "u64";
        if (!a->is_array() || a->empty()) {
            p.error(key, std::string("expected a non-empty array of ") + (wide ? "64" : "32") +
                             "-bit numbers");
            return false;
        }
        for (size_t i = 0; i < a->size(); i++) {
            auto v = Checker::number((*a)[i]);
            if (!v || (!wide && *v > 0xffffffffull)) {
                p.ck.error(p.field_path(key) + "/" + std::to_string(i),
                           std::string("expected a ") + (wide ? "64" : "32") +
                               "-bit number such as \"0x1003\", got " + type_name((*a)[i]));
                return false;
            }
            for (unsigned k = 0; k < (wide ? 8u : 4u); k++) out.push_back(uint8_t(*v >> (8 * k)));
        }
    }
    if (forms != 1) {
        p.ck.error(p.path, "expected exactly one of \"bytes\", \"u32\" or \"u64\"");
        return false;
    }
    return true;
}

void phys_range(OpParser& p, uint64_t addr, uint64_t len, const char* key) {
    const uint64_t ram = p.state.machine->memory_bytes;
    if (addr > ram || len > ram - addr) {
        // The end may lie beyond 2^64: written in 128 bits.
        unsigned __int128 end = (unsigned __int128)addr + len;
        std::string digits;
        do {
            digits.insert(digits.begin(), char('0' + int(end % 10)));
            end /= 10;
        } while (end);
        p.error(key, "expected an address inside the machine's " + std::to_string(ram) +
                         " bytes of RAM, got a range ending at " + digits);
    }
}

struct PhysOp final : Op {
    bool check = false; // expect_phys
    PhysAddr addr;
    std::vector<uint8_t> data;
    const char* name() const override { return check ? "expect_phys" : "write_phys"; }
    void run(RunContext& cx) const override {
        PhysicalMemory& ram = cx.sys.machine().ram();
        if (!check) {
            ram.write(addr, data.data(), data.size());
            return;
        }
        std::vector<uint8_t> got(data.size());
        ram.read(addr, got.data(), got.size());
        std::string failure;
        for (size_t i = 0; i < data.size(); i++)
            if (got[i] != data[i]) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "physical byte at %s is 0x%02x, expected 0x%02x",
                              to_string(addr + i).c_str(), got[i], data[i]);
                failure = buf;
                break;
            }
        cx.results.accesses.push_back(
            PhysCheckRecord{event, addr, cx.results.expectation(event, failure)});
    }
};

std::unique_ptr<Op> parse_phys(OpParser& p, bool check) {
    auto op = std::make_unique<PhysOp>();
    op->check = check;
    auto addr = p.number("addr", std::nullopt);
    if (parse_data(p, op->data) && addr) {
        phys_range(p, *addr, op->data.size(), "addr");
        op->addr = PhysAddr{*addr};
    }
    return op;
}
std::unique_ptr<Op> parse_write_phys(OpParser& p) {
    return parse_phys(p, false);
}
std::unique_ptr<Op> parse_expect_phys(OpParser& p) {
    return parse_phys(p, true);
}

// ---- accesses ---------------------------------------------------------------------------------

// What an access or segment load is expected to do (any part may be absent).
struct AccessExpect {
    bool fault = false;
    uint8_t vector = 0;
    std::optional<uint32_t> error_code;
    std::optional<uint64_t> pa;
    std::optional<uint64_t> page_size; // bytes
    std::optional<uint64_t> value;     // what a read returns
    std::optional<uint64_t> done;      // bytes moved (string accesses)
};

std::string fault_mismatch(const AccessExpect& ex, const Fault& f, const char* did) {
    if (ex.fault) {
        if (!f.raised()) return std::string("expected ") + vector_name(ex.vector) + ", " + did;
        if (f.vector != ex.vector)
            return std::string("expected ") + vector_name(ex.vector) + ", got " +
                   vector_name(f.vector);
        if (ex.error_code && *ex.error_code != f.error_code)
            return "expected error code " + hex(*ex.error_code) + ", got " + hex(f.error_code);
        return {};
    }
    if (f.raised())
        return std::string("expected success, got ") + vector_name(f.vector) + " error code " +
               hex(f.error_code);
    return {};
}

struct AccessOp final : Op {
    uint64_t where = 0; // a linear address, or the offset in `seg`
    uint64_t value = 0; // what an operand write stores
    uint32_t size = 1;
    int8_t seg = -1; // SegReg, or -1 for a linear address
    uint8_t cpl = 0;
    bool implicit = false;
    bool fill = false; // a string write of `value & 0xff`
    AccessType type = AccessType::read;
    uint16_t cpu = 0;
    std::optional<AccessExpect> expect;
    const char* name() const override { return "access"; }
    void run(RunContext& cx) const override {
        Cpu& c = cpu_of(cx, cpu);
        const AccessMode who{cpl, implicit};
        std::vector<uint8_t> buf(size, 0);
        for (unsigned k = 0; k < size && k < 8; k++) buf[k] = uint8_t(value >> (8 * k));
        MemoryAccess a;
        if (type == AccessType::write) {
            if (fill)
                a = seg >= 0 ? c.fill(SegReg(seg), where, uint8_t(value), size, who)
                             : c.fill_linear(LinearAddr{where}, uint8_t(value), size, who);
            else
                a = seg >= 0 ? c.write(SegReg(seg), where, buf.data(), size, who)
                             : c.write_linear(LinearAddr{where}, buf.data(), size, who);
        } else {
            a = seg >= 0 ? c.read(SegReg(seg), where, buf.data(), size, who, type)
                         : c.read_linear(LinearAddr{where}, buf.data(), size, who, type);
        }
        uint64_t got = 0;
        for (unsigned k = 0; k < size && k < 8; k++) got |= uint64_t(buf[k]) << (8 * k);
        // The linear address is known unless segmentation refused the first byte.
        const bool has_la = a.fault.seg == FAULT_NO_SEG || a.done > 0;
        AccessRecord r{event, cpu, type, seg, seg >= 0 ? where : 0, has_la, a.la, size, a, got, {}};
        if (expect) r.expect = cx.results.expectation(event, mismatch(*expect, a, got));
        cx.results.accesses.push_back(std::move(r));
    }
    std::string mismatch(const AccessExpect& ex, const MemoryAccess& a, uint64_t got) const {
        if (std::string f = fault_mismatch(ex, a.fault, "the access succeeded"); !f.empty())
            return f;
        if (ex.done && *ex.done != a.done)
            return "expected " + std::to_string(*ex.done) + " bytes moved, got " +
                   std::to_string(a.done);
        if (a.fault.raised()) return {};
        const Translation& t = a.first;
        if (ex.pa && *ex.pa != t.pa.value)
            return "expected pa " + hex(*ex.pa) + ", got " + to_string(t.pa);
        if (ex.page_size && *ex.page_size != (uint64_t{1} << t.page_shift))
            return "expected page size " + std::to_string(*ex.page_size) + ", got " +
                   std::to_string(uint64_t{1} << t.page_shift);
        if (ex.value && *ex.value != got)
            return "expected value " + hex(*ex.value) + ", got " + hex(got);
        return {};
    }
};

std::optional<AccessExpect> parse_expect(OpParser& p, bool segment_load, bool write, bool string) {
    const json* x = p.raw("expect");
    if (!x) return std::nullopt;
    const std::string xp = p.field_path("expect");
    Checker& ck = p.ck;
    AccessExpect ex;
    if (!x->is_object()) {
        ck.error(xp, segment_load ? "expected {} (success) or {\"fault\": \"#GP\", \"error_code\": "
                                    "\"0x68\"}"
                                  : "expected an object such as {\"pa\": \"0x5000\"} or "
                                    "{\"fault\": \"#PF\", \"error_code\": \"0x7\"}");
        return std::nullopt;
    }
    if (segment_load)
        ck.only(*x, xp, {"fault", "error_code"});
    else
        ck.only(*x, xp, {"pa", "page_size", "value", "done", "fault", "error_code"});
    if (x->contains("fault")) {
        if (auto f = ck.string(*x, xp, "fault", std::nullopt)) {
            bool known = false;
            for (size_t i = 0; i < VECTOR_CHOICES.size(); i++)
                if (*f == VECTOR_CHOICES[i]) {
                    ex.fault = true;
                    ex.vector = VECTORS[i];
                    known = true;
                }
            if (!known)
                ck.error(xp + "/fault",
                         "expected \"#PF\", \"#GP\", \"#SS\" or \"#NP\", got \"" + *f + "\"");
        }
        if (x->contains("pa") || x->contains("value") || x->contains("page_size"))
            ck.error(xp, "a faulting access has no pa, page_size or value");
        if (x->contains("error_code"))
            if (auto v = ck.u64(*x, xp, "error_code", std::nullopt)) {
                if (*v > 0xffffffffull)
                    ck.error(xp + "/error_code", "expected a 32-bit error code");
                ex.error_code = uint32_t(*v);
            }
    } else if (x->contains("error_code")) {
        ck.error(xp + "/error_code", "an error code needs \"fault\"");
    }
    if (!segment_load && !ex.fault) {
        if (x->contains("pa")) ex.pa = ck.u64(*x, xp, "pa", std::nullopt);
        if (x->contains("page_size")) {
            auto s = ck.size(*x, xp, "page_size", std::nullopt);
            if (s && *s != 4096 && *s != (2u << 20) && *s != (4u << 20) && *s != (1u << 30))
                ck.error(xp + "/page_size", "expected 4KiB, 2MiB, 4MiB or 1GiB");
            ex.page_size = s;
        }
        if (x->contains("value")) {
            if (write || string)
                ck.error(xp + "/value",
                         "only an operand read or fetch (size 1 to 8) returns a value");
            ex.value = ck.u64(*x, xp, "value", std::nullopt);
        }
    }
    if (!segment_load && x->contains("done")) ex.done = ck.u64(*x, xp, "done", std::nullopt);
    return ex;
}

std::unique_ptr<Op> parse_access(OpParser& p) {
    auto op = std::make_unique<AccessOp>();
    static const AccessType TYPES[] = {AccessType::read, AccessType::write, AccessType::fetch};
    if (auto t = p.choice("type", std::nullopt)) op->type = TYPES[*t];
    if (p.has("seg")) {
        if (p.has("la")) p.error("la", "give either \"la\" or \"seg\" with \"offset\", not both");
        if (auto r = p.choice("seg", std::nullopt)) op->seg = int8_t(*r);
        op->where = p.number("offset", std::nullopt).value_or(0);
    } else {
        if (p.has("offset")) p.error("offset", "an offset needs \"seg\"");
        op->where = p.number("la", std::nullopt).value_or(0);
    }
    const int64_t size = p.integer("size", 1).value_or(1);
    const bool string = size > 8;
    if (!(size == 1 || size == 2 || size == 4 || size == 8 || size >= 16))
        p.error("size", "expected 1, 2, 4 or 8 bytes (an operand) or 16 to " +
                            std::to_string(MAX_ACCESS_BYTES) + " (a string access, rep movs)");
    op->size = uint32_t(size);
    if (auto c = p.integer("cpl", 0)) op->cpl = uint8_t(*c);
    if (auto v = p.boolean("implicit", false)) op->implicit = *v;
    const bool write = op->type == AccessType::write;
    if (p.has("value")) {
        if (!write) p.error("value", "only a write carries a value");
        if (string) p.error("value", "a string access (size above 8) writes \"fill\", not a value");
        op->value = p.number("value", std::nullopt).value_or(0);
    }
    if (p.has("fill")) {
        if (!write || !string) p.error("fill", "only a string write (size above 8) fills");
        if (auto v = p.integer("fill", std::nullopt)) op->value = uint64_t(*v);
        op->fill = true;
    } else if (write && string) {
        p.error("fill", "a string write (size above 8) needs \"fill\", the byte it stores");
    }
    op->expect = parse_expect(p, false, write, string);
    op->cpu = p.cpu();
    return op;
}

struct Invlpg final : Op {
    LinearAddr la;
    uint16_t cpu = 0;
    const char* name() const override { return "invlpg"; }
    void run(RunContext& cx) const override {
        cpu_of(cx, cpu).mmu.invlpg(la);
        trace_tlb_op(cx, cpu, "INVLPG", {trace_hex("address", la.value)});
    }
};

std::unique_ptr<Op> parse_invlpg(OpParser& p) {
    auto op = std::make_unique<Invlpg>();
    op->la = LinearAddr{p.number("la", std::nullopt).value_or(0)};
    op->cpu = p.cpu();
    return op;
}

struct Invpcid final : Op {
    LinearAddr la;
    uint16_t pcid = 0, cpu = 0;
    uint8_t type = 0;
    const char* name() const override { return "invpcid"; }
    void run(RunContext& cx) const override {
        if (Fault f = cpu_of(cx, cpu).mmu.invpcid(type, pcid, la); f.raised())
            cx.results.faults.push_back({event, f});
        else
            trace_tlb_op(cx, cpu, "INVPCID",
                         {{"type", type}, {"pcid", pcid}, trace_hex("address", la.value)});
    }
};

std::unique_ptr<Op> parse_invpcid(OpParser& p) {
    auto op = std::make_unique<Invpcid>();
    op->type = uint8_t(p.integer("type", std::nullopt).value_or(0));
    op->pcid = uint16_t(p.integer("pcid", 0).value_or(0));
    op->la = LinearAddr{p.number("la", 0).value_or(0)};
    op->cpu = p.cpu();
    return op;
}

// ---- descriptor tables and segment registers --------------------------------------------------

struct LoadGdt final : Op {
    uint8_t layout = 0; // linux_i386, linux_boot, linux_x86_64
    PhysAddr addr;
    uint64_t base = 0;
    uint16_t cpu = 0;
    const char* name() const override { return "load_gdt"; }
    void run(RunContext& cx) const override {
        PhysicalMemory& ram = cx.sys.machine().ram();
        const uint64_t offset = base - addr.value; // the table's linear base minus its address
        const DescriptorTableRegister gdtr = layout == 0 ? write_linux_i386_gdt(ram, addr, offset)
                                             : layout == 1
                                                 ? write_linux_boot_gdt(ram, addr, offset)
                                                 : write_linux_x86_64_gdt(ram, addr, offset);
        cpu_of(cx, cpu).seg.lgdt(gdtr);
    }
};

std::unique_ptr<Op> parse_load_gdt(OpParser& p) {
    auto op = std::make_unique<LoadGdt>();
    op->layout = uint8_t(p.choice("layout", std::nullopt).value_or(0));
    if (auto a = p.number("addr", std::nullopt)) {
        phys_range(p, *a, 32 * 8, "addr");
        op->addr = PhysAddr{*a};
        op->base = *a;
    }
    if (auto b = p.number("base", op->addr.value)) op->base = *b;
    op->cpu = p.cpu();
    return op;
}

struct Lgdt final : Op {
    DescriptorTableRegister gdtr;
    uint16_t cpu = 0;
    const char* name() const override { return "lgdt"; }
    void run(RunContext& cx) const override { cpu_of(cx, cpu).seg.lgdt(gdtr); }
};

std::unique_ptr<Op> parse_lgdt(OpParser& p) {
    auto op = std::make_unique<Lgdt>();
    op->gdtr.base = p.number("base", std::nullopt).value_or(0);
    op->gdtr.limit = uint16_t(p.integer("limit", std::nullopt).value_or(0));
    op->cpu = p.cpu();
    return op;
}

struct LoadSegment final : Op {
    uint8_t reg = 0; // SegReg, or FAULT_SEG_LDTR (LLDT)
    uint16_t selector = 0, cpu = 0;
    uint8_t cpl = 0;
    std::optional<AccessExpect> expect;
    const char* name() const override { return "load_segment"; }
    void run(RunContext& cx) const override {
        Cpu& c = cpu_of(cx, cpu);
        const Fault f = reg == FAULT_SEG_LDTR ? c.lldt(selector, cpl)
                                              : c.load_segment(SegReg(reg), selector, cpl);
        SegmentLoadRecord r{event, cpu, reg, selector, f, {}};
        if (expect)
            r.expect =
                cx.results.expectation(event, fault_mismatch(*expect, f, "the load succeeded"));
        cx.results.accesses.push_back(std::move(r));
    }
};

std::unique_ptr<Op> parse_load_segment(OpParser& p) {
    auto op = std::make_unique<LoadSegment>();
    if (auto r = p.choice("reg", std::nullopt))
        op->reg = *r == 6 ? FAULT_SEG_LDTR : uint8_t(*r); // "ldtr" is the seventh choice
    if (auto v = p.number("selector", std::nullopt)) {
        if (*v > 0xffff) p.error("selector", "expected a 16-bit selector");
        op->selector = uint16_t(*v);
    }
    op->cpl = uint8_t(p.integer("cpl", 0).value_or(0));
    op->expect = parse_expect(p, true, false, false);
    op->cpu = p.cpu();
    return op;
}

} // namespace

const std::vector<OpSpec>& machine_op_specs() {
    static const std::vector<OpSpec> specs = {
        {"set_cr",
         OpMode::bare,
         {{"cr", FieldKind::integer, true, 0, 4, {}, "0, 3 or 4"},
          {"value", FieldKind::number, true, 0, 0, {}, "the value written"},
          F_CPU},
         parse_set_cr,
         "MOV to CR0/CR3/CR4 with its side effects; a #GP is recorded and the write not done"},
        {"wrmsr",
         OpMode::bare,
         {{"msr", FieldKind::enumeration, true, 0, 0, {"IA32_EFER"}, "the MSR"},
          {"value", FieldKind::number, true, 0, 0, {}, "the value written"},
          F_CPU},
         parse_wrmsr,
         "WRMSR IA32_EFER (LME, NXE)"},
        {"set_rflags",
         OpMode::bare,
         {{"value", FieldKind::number, true, 0, 0, {}, "RFLAGS (its AC bit matters to SMAP)"},
          F_CPU},
         parse_set_rflags,
         "POPF"},
        {"wrpkru",
         OpMode::bare,
         {{"value", FieldKind::number, true, 0, 0, {}, "PKRU (32 bits)"}, F_CPU},
         parse_wrpkru,
         "WRPKRU"},
        {"write_phys",
         OpMode::bare,
         {{"addr", FieldKind::number, true, 0, 0, {}, "a physical address"},
          {"bytes", FieldKind::bytes, false, 0, 0, {}, "a hex string or an array of bytes"},
          {"u32", FieldKind::numbers, false, 0, 0, {}, "32-bit values, little-endian"},
          {"u64", FieldKind::numbers, false, 0, 0, {}, "64-bit values, little-endian"}},
         parse_write_phys,
         "writes physical memory"},
        {"expect_phys",
         OpMode::bare,
         {{"addr", FieldKind::number, true, 0, 0, {}, "a physical address"},
          {"bytes", FieldKind::bytes, false, 0, 0, {}, "a hex string or an array of bytes"},
          {"u32", FieldKind::numbers, false, 0, 0, {}, "32-bit values, little-endian"},
          {"u64", FieldKind::numbers, false, 0, 0, {}, "64-bit values, little-endian"}},
         parse_expect_phys,
         "checks physical memory"},
        {"access",
         OpMode::bare,
         {{"type", FieldKind::enumeration, true, 0, 0, {"read", "write", "fetch"}, "the access"},
          {"la", FieldKind::number, false, 0, 0, {}, "a linear address"},
          {"seg", FieldKind::enumeration, false, 0, 0, SEG_CHOICES, "a segment register"},
          {"offset", FieldKind::number, false, 0, 0, {}, "the offset in `seg`"},
          {"size",
           FieldKind::integer,
           false,
           1,
           MAX_ACCESS_BYTES,
           {},
           "1, 2, 4 or 8 (an operand), or 16 and up (a string access)"},
          {"cpl", FieldKind::integer, false, 0, 3, {}, "the privilege level (3: user mode)"},
          {"implicit", FieldKind::boolean, false, 0, 0, {}, "an implicit supervisor access"},
          {"value", FieldKind::number, false, 0, 0, {}, "what an operand write stores"},
          {"fill", FieldKind::integer, false, 0, 255, {}, "the byte a string write stores"},
          {"expect", FieldKind::object, false, 0, 0, {}, "what the access should do"},
          F_CPU},
         parse_access,
         "one access through segmentation, the TLBs and the walk, and the bytes"},
        {"invlpg",
         OpMode::bare,
         {{"la", FieldKind::number, true, 0, 0, {}, "a linear address"}, F_CPU},
         parse_invlpg,
         "INVLPG"},
        {"invpcid",
         OpMode::bare,
         {{"type", FieldKind::integer, true, 0, 3, {}, "the INVPCID type"},
          {"pcid", FieldKind::integer, false, 0, 4095, {}, "the PCID"},
          {"la", FieldKind::number, false, 0, 0, {}, "the address (type 0)"},
          F_CPU},
         parse_invpcid,
         "INVPCID"},
        {"load_gdt",
         OpMode::bare,
         {{"layout",
           FieldKind::enumeration,
           true,
           0,
           0,
           {"linux_i386", "linux_boot", "linux_x86_64"},
           "which of Linux's GDTs"},
          {"addr", FieldKind::number, true, 0, 0, {}, "its physical address"},
          {"base", FieldKind::number, false, 0, 0, {}, "its linear address (default addr)"},
          F_CPU},
         parse_load_gdt,
         "writes Linux's GDT into memory and loads GDTR"},
        {"lgdt",
         OpMode::bare,
         {{"base", FieldKind::number, true, 0, 0, {}, "the table's linear address"},
          {"limit", FieldKind::integer, true, 0, 0xffff, {}, "the table's limit"},
          F_CPU},
         parse_lgdt,
         "LGDT"},
        {"load_segment",
         OpMode::bare,
         {{"reg",
           FieldKind::enumeration,
           true,
           0,
           0,
           {"es", "cs", "ss", "ds", "fs", "gs", "ldtr"},
           "the register (ldtr: LLDT)"},
          {"selector", FieldKind::number, true, 0, 0, {}, "the selector"},
          {"cpl", FieldKind::integer, false, 0, 3, {}, "the privilege level"},
          {"expect", FieldKind::object, false, 0, 0, {}, "{} or the fault"},
          F_CPU},
         parse_load_segment,
         "MOV to a segment register (far JMP for cs, LLDT for ldtr) with the SDM's checks"},
    };
    return specs;
}

} // namespace mmemu
