// Segmentation: descriptors bit by bit, Linux's GDTs in emulated RAM, the checks on segment
// register loads and on accesses (Intel SDM Vol. 3A chapters 3 and 5). Every expected value is
// worked out by hand in the comment beside it.
//
// Descriptor layout used in the working (SDM 3.4.5, Figure 3-8), from the top byte down:
//   byte 7 = base 31:24; byte 6 = G D/B L AVL | limit 19:16; byte 5 = P DPL(2) S | type(4);
//   bytes 4..2 = base 23:0; bytes 1..0 = limit 15:0.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "emulator/descriptor.h"
#include "emulator/linux_gdt.h"
#include "emulator/phys_mem.h"
#include "emulator/segmentation.h"

using namespace mmemu;

namespace {

constexpr uint64_t MiB = uint64_t{1} << 20;

// One CPU's segmentation with the i386 runtime GDT at physical 0x1000 and paging off.
struct Rig {
    static constexpr PhysAddr GDT{0x1000};
    PhysicalMemory ram{4 * MiB};
    PhysDescriptorTableReader rd{ram};
    Segmentation seg;
    Rig() { seg.lgdt(write_linux_i386_gdt(ram, GDT)); }
    void put(unsigned index, uint64_t desc) { write_gdt_entry(ram, GDT, index, desc); }
    uint64_t entry(unsigned index) const { return read_gdt_entry(ram, GDT, index); }
    uint8_t access_byte(unsigned index) const { return *ram.ptr(GDT + index * 8 + 5); }
};

// A reader that records every implicit access and can be told to fail reads with a #PF.
struct RecordingReader final : DescriptorTableReader {
    PhysDescriptorTableReader inner;
    std::vector<uint64_t> reads, writes;
    bool fail_reads = false;
    explicit RecordingReader(PhysicalMemory& ram) : inner(ram) {}
    Fault read_u64(LinearAddr la, uint64_t& out) override {
        reads.push_back(la.value);
        if (fail_reads) {
            Fault f;
            f.vector = VEC_PF;
            f.error_code = 0; // supervisor read of a not-present page
            f.cr2 = la;
            f.rule = "SDM 4.7 (a test reader): the descriptor table is not mapped";
            return f;
        }
        return inner.read_u64(la, out);
    }
    Fault write_u8(LinearAddr la, uint8_t v) override {
        writes.push_back(la.value);
        return inner.write_u8(la, v);
    }
};

// Checks a fault's vector and error code, and that it names an SDM rule.
void require_fault(const Fault& f, uint8_t vector, uint32_t error_code) {
    INFO("rule: " << f.rule);
    REQUIRE(f.raised());
    CHECK(int(f.vector) == int(vector));
    CHECK(f.error_code == error_code);
    CHECK(std::string(f.rule).rfind("SDM", 0) == 0);
}

void require_la(const Linearized& r, uint64_t la) {
    INFO("rule: " << r.fault.rule);
    REQUIRE(r.ok());
    CHECK(r.addr.value == la);
}

// Descriptor builder for custom test entries.
uint64_t desc(uint32_t base, uint32_t limit, uint8_t type, unsigned dpl, bool p = true,
              bool db = true, bool g = false, bool s = true, bool l = false) {
    Descriptor d;
    d.base = base;
    d.limit = limit;
    d.type = type;
    d.s = s;
    d.dpl = uint8_t(dpl);
    d.p = p;
    d.db = db;
    d.g = g;
    d.l = l;
    return d.encode();
}

} // namespace

// =============================================================================================
// Descriptors and selectors

TEST_CASE("segmentation: seed 003 descriptors decode field by field", "[segmentation]") {
    // __KERNEL_CS = 0x00cf9a000000ffff: limit 15:0 = 0xffff, base 23:0 = 0x000000 (bits 39:16),
    // byte 5 = 0x9a = 1 00 1 1010 -> P=1, DPL=0, S=1, type=0xA (Execute/Read); byte 6 = 0xcf =
    // 1 1 0 0 1111 -> G=1, D/B=1, L=0, AVL=0, limit 19:16 = 0xf; byte 7 (base 31:24) = 0.
    const Descriptor kcs = Descriptor::decode(0x00cf9a000000ffffull);
    CHECK(kcs.base == 0);
    CHECK(kcs.limit == 0xfffff);
    CHECK(kcs.g);
    CHECK(kcs.db);
    CHECK_FALSE(kcs.l);
    CHECK_FALSE(kcs.avl);
    CHECK(kcs.p);
    CHECK(kcs.dpl == 0);
    CHECK(kcs.s);
    CHECK(kcs.type == 0xA);
    CHECK(kcs.is_code());
    CHECK(kcs.readable());
    CHECK_FALSE(kcs.writable());
    CHECK_FALSE(kcs.conforming());
    CHECK_FALSE(kcs.accessed());
    CHECK(kcs.type_name() == "Execute/Read");
    // G=1: (0xfffff << 12) | 0xfff = 0xffffffff, the whole 4 GiB.
    CHECK(kcs.effective_limit() == 0xffffffffu);
    CHECK(kcs.access_byte() == 0x9a);

    // __KERNEL_DS = 0x00cf92000000ffff: byte 5 = 0x92 = 1 00 1 0010 -> DPL 0, type 2 (Read/Write).
    const Descriptor kds = Descriptor::decode(0x00cf92000000ffffull);
    CHECK(kds.dpl == 0);
    CHECK(kds.type == 0x2);
    CHECK(kds.is_data());
    CHECK(kds.writable());
    CHECK(kds.type_name() == "Read/Write");

    // __USER_CS = 0x00cffa000000ffff: byte 5 = 0xfa = 1 11 1 1010 -> DPL 3, type 0xA.
    const Descriptor ucs = Descriptor::decode(0x00cffa000000ffffull);
    CHECK(ucs.dpl == 3);
    CHECK(ucs.type == 0xA);
    CHECK(ucs.p);

    // __USER_DS = 0x00cff2000000ffff: byte 5 = 0xf2 = 1 11 1 0010 -> DPL 3, type 2.
    const Descriptor uds = Descriptor::decode(0x00cff2000000ffffull);
    CHECK(uds.dpl == 3);
    CHECK(uds.type == 0x2);
    CHECK(uds.base == 0);
    CHECK(uds.limit == 0xfffff);
    CHECK(uds.g);
    CHECK(uds.db);

    // Round trip of all four.
    for (uint64_t v : {0x00cf9a000000ffffull, 0x00cf92000000ffffull, 0x00cffa000000ffffull,
                       0x00cff2000000ffffull})
        CHECK(Descriptor::decode(v).encode() == v);
}

TEST_CASE("segmentation: encode places every field in its own bits", "[segmentation]") {
    // base 0x12345678, limit 0xABCDE, type 5, S=1, DPL 2, P=1, AVL=1, L=0, D/B=1, G=0:
    //   limit 15:0 = 0xBCDE; base 23:0 = 0x345678 -> bits 39:16;
    //   byte 5 = P 1 | DPL 10 | S 1 | type 0101 = 1101 0101 = 0xD5;
    //   byte 6 = G 0 | D/B 1 | L 0 | AVL 1 | limit 19:16 1010 = 0101 1010 = 0x5A;
    //   byte 7 = base 31:24 = 0x12.  => 0x12 5A D5 345678 BCDE.
    Descriptor d;
    d.base = 0x12345678;
    d.limit = 0xABCDE;
    d.type = 5;
    d.s = true;
    d.dpl = 2;
    d.p = true;
    d.avl = true;
    d.db = true;
    CHECK(d.encode() == 0x125AD5345678BCDEull);
    CHECK(Descriptor::decode(0x125AD5345678BCDEull) == d);
    CHECK(d.type_name() == "Read-Only, expand-down, accessed");

    // Every 64-bit value round-trips (all 64 bits belong to a field): a deterministic sweep.
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 10000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        REQUIRE(Descriptor::decode(x).encode() == x);
    }
    CHECK(Descriptor::decode(~0ull).encode() == ~0ull);
    CHECK(Descriptor::decode(0).encode() == 0);
}

TEST_CASE("segmentation: effective limit with and without G", "[segmentation]") {
    Descriptor d;
    d.limit = 0;
    d.g = true;
    CHECK(d.effective_limit() == 0xfff); // (0 << 12) | 0xfff
    d.limit = 1;
    CHECK(d.effective_limit() == 0x1fff); // (1 << 12) | 0xfff
    d.limit = 0xfffff;
    CHECK(d.effective_limit() == 0xffffffffu);
    d.g = false;
    CHECK(d.effective_limit() == 0xfffff); // byte granular: the field itself
    d.limit = 0x67;
    CHECK(d.effective_limit() == 0x67);
}

TEST_CASE("segmentation: type names of code, data and system descriptors", "[segmentation]") {
    CHECK(code_data_type_name(0x0) == "Read-Only");
    CHECK(code_data_type_name(0x3) == "Read/Write, accessed");
    CHECK(code_data_type_name(0x6) == "Read/Write, expand-down");
    CHECK(code_data_type_name(0x8) == "Execute-Only");
    CHECK(code_data_type_name(0xB) == "Execute/Read, accessed");
    CHECK(code_data_type_name(0xE) == "Execute/Read, conforming");
    CHECK(system_type_name(0x2) == "LDT");
    CHECK(system_type_name(0x9) == "32-bit TSS (Available)");
    CHECK(system_type_name(0x9, true) == "64-bit TSS (Available)");
    CHECK(system_type_name(0xC) == "32-bit Call Gate");
    CHECK(system_type_name(0x1, true) == "Reserved");
    CHECK(system_type_name(0x0, true) == "Upper 8 bytes of a 16-byte descriptor");
}

TEST_CASE("segmentation: selectors split into index, TI and RPL", "[segmentation]") {
    // __USER_DS 0x7b = 0111 1011: index 15, TI 0, RPL 3; error code 0x78.
    const Selector uds(0x7b);
    CHECK(uds.index() == 15);
    CHECK_FALSE(uds.ti());
    CHECK(uds.rpl() == 3);
    CHECK(uds.error_code() == 0x78);
    CHECK(selector_index(0x60) == 12);
    CHECK(selector_rpl(0x73) == 3);
    CHECK(selector_ti(0x0f));
    CHECK(Selector(14, false, 3).value == 0x73);
    CHECK(Selector(1, true, 3).value == 0x0f);
    // Null: index 0 of the GDT with any RPL; index 0 of the LDT (0x4) is not null.
    CHECK(Selector(0).is_null());
    CHECK(Selector(3).is_null());
    CHECK_FALSE(Selector(4).is_null());
    // The error code keeps TI: 0x0f -> 0x0c.
    CHECK(Selector(0x0f).error_code() == 0x0c);
}

// =============================================================================================
// Linux's GDTs

TEST_CASE("segmentation: the boot GDT of arch/x86/boot/pm.c", "[segmentation][gdt]") {
    // GDT_ENTRY(flags, base, limit): flags 7:0 -> bits 47:40, flags 15:12 -> bits 55:52,
    // limit 19:16 -> 51:48, base 23:0 -> 39:16, base 31:24 -> 63:56, limit 15:0 -> 15:0.
    //  BOOT_CS  GDT_ENTRY(0xc09b, 0, 0xfffff): 0x9b << 40 | 0xc << 52 | 0xf << 48 | 0xffff
    //           = 0x00cf9b000000ffff
    //  BOOT_DS  GDT_ENTRY(0xc093, 0, 0xfffff) = 0x00cf93000000ffff
    //  BOOT_TSS GDT_ENTRY(0x0089, 4096, 103): 0x89 << 40 | 0x1000 << 16 | 0x67
    //           = 0x0000890000000000 | 0x10000000 | 0x67 = 0x0000890010000067
    const auto g = linux_boot_gdt();
    CHECK(g[0] == 0);
    CHECK(g[1] == 0);
    CHECK(g[2] == 0x00cf9b000000ffffull);
    CHECK(g[3] == 0x00cf93000000ffffull);
    CHECK(g[4] == 0x0000890010000067ull);
    const Descriptor tss = Descriptor::decode(g[4]);
    CHECK_FALSE(tss.s);
    CHECK(tss.type == SYS_TYPE_TSS_AVAIL);
    CHECK(tss.base == 4096);
    CHECK(tss.effective_limit() == 103);
    CHECK(tss.type_name() == "32-bit TSS (Available)");

    PhysicalMemory ram(1 * MiB);
    // gdt.len = sizeof(boot_gdt) - 1 = 5 * 8 - 1 = 39; base = the table's address.
    const DescriptorTableRegister r = write_linux_boot_gdt(ram, PhysAddr{0x800});
    CHECK(r.base == 0x800);
    CHECK(r.limit == 39);
    CHECK(ram.read_u64(PhysAddr{0x800 + 2 * 8}) == 0x00cf9b000000ffffull);
    CHECK(ram.read_u64(PhysAddr{0x800 + 4 * 8}) == 0x0000890010000067ull);
    // Little-endian in memory: byte 5 of BOOT_CS is the access byte 0x9b.
    CHECK(*ram.ptr(PhysAddr{0x800 + 2 * 8 + 5}) == 0x9b);
}

TEST_CASE("segmentation: the i386 runtime GDT", "[segmentation][gdt]") {
    PhysicalMemory ram(1 * MiB);
    // GDT_ENTRIES 32 -> limit 32 * 8 - 1 = 255; linear_offset 0xC0000000 (PAGE_OFFSET) is added.
    const DescriptorTableRegister r = write_linux_i386_gdt(ram, PhysAddr{0x2000}, 0xC0000000);
    CHECK(r.base == 0xC0002000);
    CHECK(r.limit == 255);
    auto e = [&](unsigned i) { return read_gdt_entry(ram, PhysAddr{0x2000}, i); };
    // Seed 003: entries 12..15 (selectors 0x60, 0x68, 0x73, 0x7b).
    CHECK(linux_i386::KERNEL_CS == 0x60);
    CHECK(linux_i386::KERNEL_DS == 0x68);
    CHECK(linux_i386::USER_CS == 0x73);
    CHECK(linux_i386::USER_DS == 0x7b);
    CHECK(e(12) == 0x00cf9a000000ffffull);
    CHECK(e(13) == 0x00cf92000000ffffull);
    CHECK(e(14) == 0x00cffa000000ffffull);
    CHECK(e(15) == 0x00cff2000000ffffull);
    // PnP BIOS: GDT_ENTRY_INIT(0x409a, 0, 0xffff) = 0x9a << 40 | 0x4 << 52 | 0xffff
    //           = 0x00409a000000ffff (32-bit code, byte granular, 64 KiB); CS16 0x009a -> D=0.
    CHECK(e(18) == 0x00409a000000ffffull);
    CHECK(e(19) == 0x00009a000000ffffull);
    CHECK(e(20) == 0x000092000000ffffull);
    CHECK(e(21) == 0x0000920000000000ull); // TS1: limit 0, set at run time
    CHECK(e(22) == 0x0000920000000000ull);
    // APM BIOS: 0x409a, 0x009a, 0x4092 with limit 0xffff.
    CHECK(e(23) == 0x00409a000000ffffull);
    CHECK(e(24) == 0x00009a000000ffffull);
    CHECK(e(25) == 0x004092000000ffffull);
    // ESPFIX_SS and PERCPU: GDT_ENTRY_INIT(0xc092, 0, 0xfffff) = 0x00cf92000000ffff.
    CHECK(e(26) == 0x00cf92000000ffffull);
    CHECK(e(27) == 0x00cf92000000ffffull);
    // Null and run-time entries stay 0: null, TLS 6..8, TSS 16, LDT 17, canary 28, DF TSS 31.
    for (unsigned i : {0u, 1u, 6u, 7u, 8u, 16u, 17u, 28u, 31u}) CHECK(e(i) == 0);

    // CONFIG_CC_STACKPROTECTOR: GDT_ENTRY_INIT(0x4090, 0, 0x18) = 0x90 << 40 | 0x4 << 52 | 0x18
    // = 0x0040900000000018 (read-only data, 24 bytes).
    CHECK(linux_i386_gdt(true)[linux_i386::GDT_ENTRY_STACK_CANARY] == 0x0040900000000018ull);
}

TEST_CASE("segmentation: the x86_64 GDT", "[segmentation][gdt]") {
    PhysicalMemory ram(1 * MiB);
    // GDT_ENTRIES 16 -> limit 127.
    const DescriptorTableRegister r = write_linux_x86_64_gdt(ram, PhysAddr{0x3000});
    CHECK(r.base == 0x3000);
    CHECK(r.limit == 127);
    auto e = [&](unsigned i) { return read_gdt_entry(ram, PhysAddr{0x3000}, i); };
    CHECK(linux_x86_64::KERNEL_CS == 0x10);
    CHECK(linux_x86_64::KERNEL_DS == 0x18);
    CHECK(linux_x86_64::USER32_CS == 0x23);
    CHECK(linux_x86_64::USER_DS == 0x2b);
    CHECK(linux_x86_64::USER_CS == 0x33);
    // DESC_CODE32 = S|P|A|R|X (0x9b) | G | D/B = 0xc09b -> 0x00cf9b000000ffff
    CHECK(e(1) == 0x00cf9b000000ffffull);
    // DESC_CODE64 = 0x9b | G | L = 0xa09b -> byte 6 = 1010 1111 = 0xaf -> 0x00af9b000000ffff
    CHECK(e(2) == 0x00af9b000000ffffull);
    // DESC_DATA64 = S|P|A|W (0x93) | G | D/B = 0xc093 -> 0x00cf93000000ffff
    CHECK(e(3) == 0x00cf93000000ffffull);
    // | DESC_USER (DPL 3: +0x60): 0xc0fb, 0xc0f3, 0xa0fb
    CHECK(e(4) == 0x00cffb000000ffffull);
    CHECK(e(5) == 0x00cff3000000ffffull);
    CHECK(e(6) == 0x00affb000000ffffull);
    for (unsigned i : {0u, 7u, 8u, 9u, 10u, 11u, 12u, 15u}) CHECK(e(i) == 0);
    const Descriptor kcs = Descriptor::decode(e(2));
    CHECK(kcs.l);
    CHECK_FALSE(kcs.db);
    CHECK(kcs.accessed());
}

// =============================================================================================
// Loads

TEST_CASE("segmentation: loading __USER_DS sets the Accessed bit in emulated memory",
          "[segmentation][load]") {
    Rig t;
    // Entry 15 is at 0x1000 + 15 * 8 = 0x1078; its access byte at 0x107d reads 0xf2 (A = 0).
    REQUIRE(t.access_byte(15) == 0xf2);
    RecordingReader rr(t.ram);
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0x7b, 3, rr).raised());
    // One descriptor read at GDTR.base + 15 * 8 = 0x1078 and one write of byte 5 = 0x107d.
    CHECK(rr.reads == std::vector<uint64_t>{0x1078});
    CHECK(rr.writes == std::vector<uint64_t>{0x107d});
    CHECK(t.access_byte(15) == 0xf3);
    CHECK(t.entry(15) == 0x00cff3000000ffffull);
    const SegmentCache& ds = t.seg.reg(SegReg::DS);
    CHECK(ds.valid);
    CHECK(ds.selector == 0x7b);
    CHECK(ds.base == 0);
    CHECK(ds.limit == 0xffffffffu);
    CHECK(ds.desc.type == 0x3); // the cache holds the descriptor as written back
    CHECK(ds.desc.dpl == 3);

    // A second load finds A already set and does not write.
    rr.reads.clear();
    rr.writes.clear();
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0x7b, 3, rr).raised());
    CHECK(rr.reads.size() == 1);
    CHECK(rr.writes.empty());

    // __KERNEL_CS by a far jump at CPL 0: 0x9a -> 0x9b at 0x1000 + 12 * 8 + 5 = 0x1065.
    REQUIRE_FALSE(t.seg.load_code_segment(0x60, 0, t.rd).raised());
    CHECK(*t.ram.ptr(PhysAddr{0x1065}) == 0x9b);
    CHECK(t.entry(12) == 0x00cf9b000000ffffull);
    CHECK(t.seg.cpl() == 0);
}

TEST_CASE("segmentation: null selectors", "[segmentation][load]") {
    Rig t;
    // DS, ES, FS, GS take a null selector (any RPL); the register becomes unusable.
    for (SegReg r : {SegReg::DS, SegReg::ES, SegReg::FS, SegReg::GS}) {
        REQUIRE_FALSE(t.seg.load_data_segment(r, 0x7b, 3, t.rd).raised());
        REQUIRE_FALSE(t.seg.load_data_segment(r, 0x0003, 3, t.rd).raised());
        CHECK_FALSE(t.seg.reg(r).valid);
        CHECK(t.seg.reg(r).selector == 3);
        // ... and its use is #GP(0) (SDM 5.4.1).
        require_fault(t.seg.linearize(r, 0, 1, AccessType::read).fault, VEC_GP, 0);
    }
    // SS cannot be null outside 64-bit mode: #GP(0).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0, 0, t.rd), VEC_GP, 0);
    // MOV to CS is not a load this function takes.
    CHECK_THROWS_AS(t.seg.load_data_segment(SegReg::CS, 0x60, 0, t.rd), std::invalid_argument);
    // A far jump to the null selector: #GP(0).
    require_fault(t.seg.load_code_segment(0, 0, t.rd), VEC_GP, 0);
}

TEST_CASE("segmentation: selector beyond the table limit", "[segmentation][load]") {
    Rig t;
    // Limit 255: index 31 (bytes 248..255) is in; index 32 (0x100, bytes 256..263) is not:
    // #GP(selector with RPL cleared) = #GP(0x100) for 0x103.
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x103, 3, t.rd), VEC_GP, 0x100);
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x100, 0, t.rd), VEC_GP, 0x100);
    require_fault(t.seg.load_code_segment(0x100, 0, t.rd), VEC_GP, 0x100);

    // With a GDT limit of 0x7b (16 entries minus the last 4 bytes), entry 15 (bytes
    // 0x78..0x7f) sticks out: 0x78 + 7 = 0x7f > 0x7b -> #GP(0x78); entry 14 (0x70..0x77) fits.
    t.seg.lgdt({Rig::GDT.value, 0x7b});
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x7b, 3, t.rd), VEC_GP, 0x78);
    CHECK_FALSE(t.seg.load_data_segment(SegReg::DS, 0x73, 3, t.rd).raised());

    // TI = 1 with LDTR null: 0x0f (index 1, LDT, RPL 3) -> #GP(0x0c).
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x0f, 3, t.rd), VEC_GP, 0x0c);
}

TEST_CASE("segmentation: SS load checks (SDM 5.7)", "[segmentation][load]") {
    Rig t;
    // Custom entries: 29 read-only data DPL 0; 30 system (32-bit TSS) DPL 0.
    t.put(29, desc(0, 0xfffff, 0x0, 0, true, true, true));
    t.put(30, gdt_entry(0x0089, 0x5000, 103));

    // RPL must equal CPL: 0x6b (KERNEL_DS with RPL 3) at CPL 0 -> #GP(0x68).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x6b, 0, t.rd), VEC_GP, 0x68);
    // __KERNEL_DS at CPL 3: RPL 0 != CPL 3 -> #GP(0x68).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x68, 3, t.rd), VEC_GP, 0x68);
    // __USER_DS at CPL 0: RPL 3 != CPL 0 -> #GP(0x78).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x7b, 0, t.rd), VEC_GP, 0x78);
    // 0x78 (user data with RPL 0) at CPL 0: RPL = CPL but DPL 3 != CPL 0 -> #GP(0x78).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x78, 0, t.rd), VEC_GP, 0x78);
    // Wrong type: code (__KERNEL_CS) -> #GP(0x60); read-only data -> #GP(0xe8); TSS -> #GP(0xf0).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0x60, 0, t.rd), VEC_GP, 0x60);
    require_fault(t.seg.load_data_segment(SegReg::SS, 0xe8, 0, t.rd), VEC_GP, 0xe8);
    require_fault(t.seg.load_data_segment(SegReg::SS, 0xf0, 0, t.rd), VEC_GP, 0xf0);
    // None of these changed SS or set an Accessed bit.
    CHECK_FALSE(t.seg.reg(SegReg::SS).valid);
    CHECK(t.access_byte(13) == 0x92);

    // The right ones: __KERNEL_DS at CPL 0, __USER_DS at CPL 3.
    CHECK_FALSE(t.seg.load_data_segment(SegReg::SS, 0x68, 0, t.rd).raised());
    CHECK(t.seg.reg(SegReg::SS).selector == 0x68);
    CHECK_FALSE(t.seg.load_data_segment(SegReg::SS, 0x7b, 3, t.rd).raised());
    CHECK(t.seg.reg(SegReg::SS).selector == 0x7b);
}

TEST_CASE("segmentation: DS/ES/FS/GS load checks (SDM 5.4, 5.6)", "[segmentation][load]") {
    Rig t;
    t.put(28, desc(0, 0xfffff, 0x8, 0, true, true, true)); // execute-only code, DPL 0
    t.put(29, desc(0, 0xfffff, 0xE, 0, true, true, true)); // readable conforming code, DPL 0
    t.put(30, gdt_entry(0x0089, 0x5000, 103));             // 32-bit TSS

    // CPL 3 > DPL 0: __KERNEL_DS from user mode -> #GP(0x68).
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x68, 3, t.rd), VEC_GP, 0x68);
    // RPL 3 > DPL 0 at CPL 0: 0x6b -> #GP(0x68).
    require_fault(t.seg.load_data_segment(SegReg::FS, 0x6b, 0, t.rd), VEC_GP, 0x68);
    // DPL 3 >= CPL 0 and RPL 3: __USER_DS from the kernel is fine.
    CHECK_FALSE(t.seg.load_data_segment(SegReg::ES, 0x7b, 0, t.rd).raised());
    // Readable non-conforming code at its own level: __KERNEL_CS into DS at CPL 0 is fine.
    CHECK_FALSE(t.seg.load_data_segment(SegReg::DS, 0x60, 0, t.rd).raised());
    // ... but not from CPL 3 (DPL 0 < CPL 3): #GP(0x60).
    require_fault(t.seg.load_data_segment(SegReg::GS, 0x63, 3, t.rd), VEC_GP, 0x60);
    // Execute-only code is not readable: #GP(0xe0).
    require_fault(t.seg.load_data_segment(SegReg::DS, 0xe0, 0, t.rd), VEC_GP, 0xe0);
    // Readable conforming code: no privilege check (SDM 5.6.1), so DPL 0 loads at CPL 3.
    CHECK_FALSE(t.seg.load_data_segment(SegReg::GS, 0xeb, 3, t.rd).raised());
    // A system descriptor: #GP(0xf0).
    require_fault(t.seg.load_data_segment(SegReg::DS, 0xf0, 0, t.rd), VEC_GP, 0xf0);
}

TEST_CASE("segmentation: not-present segments raise #NP, or #SS for SS", "[segmentation][load]") {
    Rig t;
    // Entry 29: __KERNEL_DS with P = 0 (byte 5 0x92 -> 0x12): 0x00cf12000000ffff.
    t.put(29, 0x00cf12000000ffffull);
    // Entry 30: __KERNEL_CS with P = 0: 0x00cf1a000000ffff.
    t.put(30, 0x00cf1a000000ffffull);
    // Selector 0xe8 (index 29) at CPL 0 passes the type and privilege checks, then P = 0:
    // #NP(0xe8) for DS, #SS(0xe8) for SS; the descriptor's P bit (47) is named.
    const Fault np = t.seg.load_data_segment(SegReg::DS, 0xe8, 0, t.rd);
    require_fault(np, VEC_NP, 0xe8);
    CHECK(np.bit == 47);
    require_fault(t.seg.load_data_segment(SegReg::SS, 0xe8, 0, t.rd), VEC_SS, 0xe8);
    // A not-present code segment on a far jump: #NP(0xf0).
    require_fault(t.seg.load_code_segment(0xf0, 0, t.rd), VEC_NP, 0xf0);
    // Failed loads write nothing: the access bytes are unchanged.
    CHECK(t.access_byte(29) == 0x12);
    CHECK(t.access_byte(30) == 0x1a);
}

TEST_CASE("segmentation: code segment loads by far jump and far return", "[segmentation][load]") {
    Rig t;
    t.put(29, desc(0, 0xfffff, 0xE, 0, true, true, true)); // conforming readable, DPL 0
    // Far JMP to __USER_CS at CPL 0: non-conforming, DPL 3 != CPL 0 -> #GP(0x70).
    require_fault(t.seg.load_code_segment(0x73, 0, t.rd), VEC_GP, 0x70);
    // Far JMP to data: #GP(0x68).
    require_fault(t.seg.load_code_segment(0x68, 0, t.rd), VEC_GP, 0x68);
    // Far JMP to __KERNEL_CS with RPL 3 at CPL 0: RPL 3 > CPL 0 -> #GP(0x60).
    require_fault(t.seg.load_code_segment(0x63, 0, t.rd), VEC_GP, 0x60);
    // Conforming DPL 0 from CPL 3: allowed; CPL stays 3 and CS.RPL becomes 3: 0xe8 | 3 = 0xeb.
    REQUIRE_FALSE(t.seg.load_code_segment(0xe8, 3, t.rd).raised());
    CHECK(t.seg.reg(SegReg::CS).selector == 0xeb);
    CHECK(t.seg.cpl() == 3);

    // Return from the kernel to user mode (IRET): CS = __USER_CS (RPL 3 > CPL 0), SS =
    // __USER_DS at the new CPL 3, then DS (kernel data, DPL 0 < 3) is nulled and ES (user data)
    // kept.
    REQUIRE_FALSE(t.seg.load_code_segment(0x60, 0, t.rd).raised());
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0x68, 0, t.rd).raised());
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0x7b, 0, t.rd).raised());
    REQUIRE_FALSE(t.seg.load_code_segment_return(0x73, 0, t.rd).raised());
    CHECK(t.seg.cpl() == 3);
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::SS, 0x7b, 3, t.rd).raised());
    t.seg.null_outer_segments(3);
    CHECK_FALSE(t.seg.reg(SegReg::DS).valid);
    CHECK(t.seg.reg(SegReg::DS).selector == 0);
    CHECK(t.seg.reg(SegReg::ES).valid);
    // A return cannot raise privilege: __KERNEL_CS (RPL 0) from CPL 3 -> #GP(0x60).
    require_fault(t.seg.load_code_segment_return(0x60, 3, t.rd), VEC_GP, 0x60);
    // Non-conforming DPL must equal RPL: 0x63 (kernel code, RPL 3) -> DPL 0 != 3 -> #GP(0x60).
    require_fault(t.seg.load_code_segment_return(0x63, 0, t.rd), VEC_GP, 0x60);
}

TEST_CASE("segmentation: the boot GDT loads as setup code uses it", "[segmentation][load]") {
    PhysicalMemory ram(1 * MiB);
    PhysDescriptorTableReader rd(ram);
    Segmentation seg;
    seg.lgdt(write_linux_boot_gdt(ram, PhysAddr{0x800}));
    RecordingReader rr(ram);
    // __BOOT_CS 0x10 is already accessed (0x9b): no write.
    REQUIRE_FALSE(seg.load_code_segment(linux_boot::BOOT_CS, 0, rr).raised());
    CHECK(rr.writes.empty());
    REQUIRE_FALSE(seg.load_data_segment(SegReg::DS, linux_boot::BOOT_DS, 0, rd).raised());
    REQUIRE_FALSE(seg.load_data_segment(SegReg::SS, linux_boot::BOOT_DS, 0, rd).raised());
    // The TSS is a system descriptor: #GP(0x20) for DS and SS.
    require_fault(seg.load_data_segment(SegReg::DS, linux_boot::BOOT_TSS, 0, rd), VEC_GP, 0x20);
    require_fault(seg.load_data_segment(SegReg::SS, linux_boot::BOOT_TSS, 0, rd), VEC_GP, 0x20);
    // Limit 39: index 5 (0x28, bytes 40..47) is beyond it.
    require_fault(seg.load_data_segment(SegReg::DS, 0x28, 0, rd), VEC_GP, 0x28);
}

TEST_CASE("segmentation: a failing descriptor-table read is the load's fault",
          "[segmentation][load]") {
    Rig t;
    RecordingReader rr(t.ram);
    rr.fail_reads = true;
    const Fault f = t.seg.load_data_segment(SegReg::DS, 0x7b, 3, rr);
    require_fault(f, VEC_PF, 0);
    CHECK(f.cr2.value == 0x1078); // GDTR.base 0x1000 + 15 * 8
    CHECK_FALSE(t.seg.reg(SegReg::DS).valid);
    CHECK(t.access_byte(15) == 0xf2);
}

TEST_CASE("segmentation: LLDT and LDT selectors", "[segmentation][load]") {
    Rig t;
    // LDT descriptor in GDT entry 30 (selector 0xf0): base 0x3000, limit 0x17 (3 entries),
    // type 2, P=1, DPL 0: GDT_ENTRY(0x0082, 0x3000, 0x17) = 0x0000820030000017.
    t.put(30, gdt_entry(0x0082, 0x3000, 0x17));
    CHECK(t.entry(30) == 0x0000820030000017ull);
    // LDT entry 1 = a user data segment with base 0x40000: 0x00cff2040000ffff.
    t.ram.write_u64(PhysAddr{0x3008}, desc(0x40000, 0xfffff, 0x2, 3, true, true, true));
    CHECK(t.ram.read_u64(PhysAddr{0x3008}) == 0x00cff2040000ffffull);

    // LLDT needs CPL 0 (#GP(0)), a GDT selector (#GP(sel)) and an LDT descriptor (#GP(sel)).
    require_fault(t.seg.lldt(0xf0, 3, t.rd), VEC_GP, 0);
    require_fault(t.seg.lldt(0xf4, 0, t.rd), VEC_GP, 0xf4);
    require_fault(t.seg.lldt(0x68, 0, t.rd), VEC_GP, 0x68);
    REQUIRE_FALSE(t.seg.lldt(0xf0, 0, t.rd).raised());
    CHECK(t.seg.ldtr().valid);
    CHECK(t.seg.ldtr().base == 0x3000);
    CHECK(t.seg.ldtr().limit == 0x17);

    // 0x0f = LDT index 1, RPL 3: read at 0x3000 + 8, A bit written at 0x300d (0xf2 -> 0xf3).
    RecordingReader rr(t.ram);
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0x0f, 3, rr).raised());
    CHECK(rr.reads == std::vector<uint64_t>{0x3008});
    CHECK(rr.writes == std::vector<uint64_t>{0x300d});
    CHECK(*t.ram.ptr(PhysAddr{0x300d}) == 0xf3);
    require_la(t.seg.linearize(SegReg::DS, 0x10, 4, AccessType::read), 0x40010);
    // LDT index 3 (0x1f): bytes 24..31 > limit 0x17 -> #GP(0x1c).
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x1f, 3, t.rd), VEC_GP, 0x1c);
    // LLDT with a null selector makes LDTR unusable again.
    REQUIRE_FALSE(t.seg.lldt(0, 0, t.rd).raised());
    require_fault(t.seg.load_data_segment(SegReg::DS, 0x0f, 3, t.rd), VEC_GP, 0x0c);
    // A not-present LDT: #NP(0xe8).
    t.put(29, gdt_entry(0x0002, 0x3000, 0x17));
    require_fault(t.seg.lldt(0xe8, 0, t.rd), VEC_NP, 0xe8);
}

// =============================================================================================
// Accesses

TEST_CASE("segmentation: flat __USER_DS maps offsets to themselves", "[segmentation][access]") {
    Rig t;
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0x7b, 3, t.rd).raised());
    // Seed 003's worked example: offset 0x08048568 in a base-0 segment is linear 0x08048568.
    require_la(t.seg.linearize(SegReg::DS, 0x08048568, 4, AccessType::read), 0x08048568);
    require_la(t.seg.linearize(SegReg::DS, 0x08048568, 4, AccessType::write), 0x08048568);
    // Limit 0xffffffff: the last 4 bytes fit, one more byte does not.
    require_la(t.seg.linearize(SegReg::DS, 0xfffffffc, 4, AccessType::read), 0xfffffffc);
    require_fault(t.seg.linearize(SegReg::DS, 0xfffffffd, 4, AccessType::read).fault, VEC_GP, 0);
    // Fetch from a data segment: #GP(0).
    require_fault(t.seg.linearize(SegReg::DS, 0x1000, 1, AccessType::fetch).fault, VEC_GP, 0);
}

TEST_CASE("segmentation: expand-up limit boundary", "[segmentation][access]") {
    Rig t;
    // Entry 29: RW data, base 0x10000, limit 0xfff, byte granular, DPL 0.
    t.put(29, desc(0x10000, 0xfff, 0x2, 0, true, true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0xe8, 0, t.rd).raised());
    // Last byte at the limit: offset 0xfff, size 1 -> linear 0x10fff.
    require_la(t.seg.linearize(SegReg::DS, 0xfff, 1, AccessType::read), 0x10fff);
    require_la(t.seg.linearize(SegReg::DS, 0xffc, 4, AccessType::write), 0x10ffc);
    // One more byte: 0xfff + 1 or [0xffd, 0x1000] -> #GP(0).
    require_fault(t.seg.linearize(SegReg::DS, 0x1000, 1, AccessType::read).fault, VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::DS, 0xffd, 4, AccessType::read).fault, VEC_GP, 0);

    // G = 1, limit field 0: effective limit (0 << 12) | 0xfff = 0xfff, the same boundary.
    t.put(30, desc(0x10000, 0, 0x2, 0, true, true, true));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0xf0, 0, t.rd).raised());
    CHECK(t.seg.reg(SegReg::ES).limit == 0xfff);
    require_la(t.seg.linearize(SegReg::ES, 0xfff, 1, AccessType::read), 0x10fff);
    require_fault(t.seg.linearize(SegReg::ES, 0x1000, 1, AccessType::read).fault, VEC_GP, 0);

    // Linear addresses wrap at 4 GiB: base 0x10000, offset 0xffff0000 -> 0x100000000 -> 0.
    t.put(31, desc(0x10000, 0xfffff, 0x2, 0, true, true, true));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::FS, 0xf8, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::FS, 0xffff0000, 1, AccessType::read), 0);
}

TEST_CASE("segmentation: expand-down segments with B=0 and B=1", "[segmentation][access]") {
    Rig t;
    // Type 6 (Read/Write, expand-down), limit 0xfff, base 0.
    // B = 0: valid offsets are limit + 1 .. 0xffff = 0x1000 .. 0xffff.
    t.put(29, desc(0, 0xfff, 0x6, 0, true, /*db=*/false, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0xe8, 0, t.rd).raised());
    require_fault(t.seg.linearize(SegReg::DS, 0xfff, 1, AccessType::read).fault, VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::DS, 0x0, 1, AccessType::read).fault, VEC_GP, 0);
    require_la(t.seg.linearize(SegReg::DS, 0x1000, 1, AccessType::read), 0x1000);
    require_la(t.seg.linearize(SegReg::DS, 0xfffe, 2, AccessType::write), 0xfffe);
    require_la(t.seg.linearize(SegReg::DS, 0xffff, 1, AccessType::read), 0xffff);
    // [0xffff, 0x10000] runs past 0xffff; 0x10000 is beyond the 64 KiB upper bound.
    require_fault(t.seg.linearize(SegReg::DS, 0xffff, 2, AccessType::read).fault, VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::DS, 0x10000, 1, AccessType::read).fault, VEC_GP, 0);
    // An access straddling the limit ([0xffe, 0x1001]) has its first byte at or below it: #GP.
    require_fault(t.seg.linearize(SegReg::DS, 0xffe, 4, AccessType::read).fault, VEC_GP, 0);

    // B = 1: valid offsets 0x1000 .. 0xffffffff.
    t.put(30, desc(0, 0xfff, 0x6, 0, true, /*db=*/true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0xf0, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::ES, 0x10000, 1, AccessType::read), 0x10000);
    require_la(t.seg.linearize(SegReg::ES, 0xfffffffc, 4, AccessType::read), 0xfffffffc);
    require_fault(t.seg.linearize(SegReg::ES, 0xfffffffd, 4, AccessType::read).fault, VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::ES, 0xfff, 1, AccessType::read).fault, VEC_GP, 0);

    // Read-only expand-down (type 4): reads are fine, writes #GP(0).
    t.put(31, desc(0, 0xfff, 0x4, 0, true, true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::FS, 0xf8, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::FS, 0x2000, 4, AccessType::read), 0x2000);
    require_fault(t.seg.linearize(SegReg::FS, 0x2000, 4, AccessType::write).fault, VEC_GP, 0);
}

TEST_CASE("segmentation: SS faults are #SS(0)", "[segmentation][access]") {
    Rig t;
    // Expand-down stack (type 6), B = 1, limit 0xffff: valid 0x10000 .. 0xffffffff.
    t.put(29, desc(0, 0xffff, 0x6, 0, true, true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::SS, 0xe8, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::SS, 0x10000, 4, AccessType::write), 0x10000);
    // Pushing below the limit: [0xfffc, 0xffff] -> #SS(0).
    require_fault(t.seg.linearize(SegReg::SS, 0xfffc, 4, AccessType::write).fault, VEC_SS, 0);
    // Expand-up stack with limit 0x1fff: [0x1ffe, 0x2001] -> #SS(0).
    t.put(30, desc(0, 0x1fff, 0x2, 0, true, true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::SS, 0xf0, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::SS, 0x1ffc, 4, AccessType::read), 0x1ffc);
    require_fault(t.seg.linearize(SegReg::SS, 0x1ffe, 4, AccessType::read).fault, VEC_SS, 0);
}

TEST_CASE("segmentation: type checks on access", "[segmentation][access]") {
    Rig t;
    t.put(28, desc(0, 0xfffff, 0x8, 0, true, true, true)); // execute-only code, DPL 0
    t.put(29, desc(0, 0xfffff, 0x0, 0, true, true, true)); // read-only data, DPL 0
    // Write to code: CS = __KERNEL_CS -> #GP(0); reads and fetches through it are fine.
    REQUIRE_FALSE(t.seg.load_code_segment(0x60, 0, t.rd).raised());
    require_fault(t.seg.linearize(SegReg::CS, 0x100, 4, AccessType::write).fault, VEC_GP, 0);
    require_la(t.seg.linearize(SegReg::CS, 0x100, 4, AccessType::read), 0x100);
    require_la(t.seg.linearize(SegReg::CS, 0x100, 1, AccessType::fetch), 0x100);
    // Readable code in DS: reads fine, writes #GP(0).
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0x60, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::DS, 0x200, 4, AccessType::read), 0x200);
    require_fault(t.seg.linearize(SegReg::DS, 0x200, 4, AccessType::write).fault, VEC_GP, 0);
    // Read-only data: write #GP(0).
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0xe8, 0, t.rd).raised());
    require_fault(t.seg.linearize(SegReg::ES, 0, 1, AccessType::write).fault, VEC_GP, 0);
    // Execute-only code in CS: fetch fine, read #GP(0).
    REQUIRE_FALSE(t.seg.load_code_segment(0xe0, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::CS, 0x300, 1, AccessType::fetch), 0x300);
    const Fault f = t.seg.linearize(SegReg::CS, 0x300, 4, AccessType::read).fault;
    require_fault(f, VEC_GP, 0);
    CHECK(std::string(f.rule).find("SDM 5.4") != std::string::npos);
}

// =============================================================================================
// 64-bit mode

namespace {

// The x86_64 GDT at 0x1000, IA-32e mode, CS = __KERNEL_CS (L = 1): 64-bit mode at CPL 0.
struct Rig64 {
    PhysicalMemory ram{4 * MiB};
    PhysDescriptorTableReader rd{ram};
    Segmentation seg;
    explicit Rig64(bool la57 = false) {
        seg.lgdt(write_linux_x86_64_gdt(ram, PhysAddr{0x1000}));
        seg.set_mode({/*ia32e=*/true, la57});
        REQUIRE_FALSE(seg.load_code_segment(linux_x86_64::KERNEL_CS, 0, rd).raised());
        REQUIRE(seg.in_64bit_mode());
        REQUIRE_FALSE(seg.load_data_segment(SegReg::DS, linux_x86_64::KERNEL_DS, 0, rd).raised());
        REQUIRE_FALSE(seg.load_data_segment(SegReg::SS, linux_x86_64::KERNEL_DS, 0, rd).raised());
    }
};

} // namespace

TEST_CASE("segmentation: 64-bit mode canonical checks, 4-level (48-bit)", "[segmentation][64bit]") {
    Rig64 t;
    // Canonical: bits 63:47 all equal. 0x00007fffffffffff is the top of the lower half.
    require_la(t.seg.linearize(SegReg::DS, 0x00007fffffffffffull, 1, AccessType::read),
               0x00007fffffffffffull);
    require_la(t.seg.linearize(SegReg::DS, 0x00007ffffffffff8ull, 8, AccessType::write),
               0x00007ffffffffff8ull);
    // Its last byte crosses into the hole: [0x7fffffffffff, 0x800000000000] -> #GP(0).
    require_fault(t.seg.linearize(SegReg::DS, 0x00007fffffffffffull, 2, AccessType::read).fault,
                  VEC_GP, 0);
    // 0x0000800000000000: bit 47 = 1, bits 63:48 = 0 -> not canonical, #GP(0); via SS #SS(0).
    require_fault(t.seg.linearize(SegReg::DS, 0x0000800000000000ull, 1, AccessType::read).fault,
                  VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::SS, 0x0000800000000000ull, 8, AccessType::write).fault,
                  VEC_SS, 0);
    // The kernel half starts at 0xffff800000000000.
    require_la(t.seg.linearize(SegReg::SS, 0xffff800000000000ull, 8, AccessType::write),
               0xffff800000000000ull);
    require_la(t.seg.linearize(SegReg::CS, 0xffffffff81000000ull, 1, AccessType::fetch),
               0xffffffff81000000ull);
    // A 57-bit address is not canonical without LA57.
    require_fault(t.seg.linearize(SegReg::DS, 0x00ff000000000000ull, 1, AccessType::read).fault,
                  VEC_GP, 0);
}

TEST_CASE("segmentation: 64-bit mode canonical checks with LA57 (57-bit)",
          "[segmentation][64bit]") {
    Rig64 t(/*la57=*/true);
    // Canonical: bits 63:56 all equal. 0x0000800000000000 is now a valid user address.
    require_la(t.seg.linearize(SegReg::DS, 0x0000800000000000ull, 1, AccessType::read),
               0x0000800000000000ull);
    require_la(t.seg.linearize(SegReg::DS, 0x00ffffffffffffffull, 1, AccessType::read),
               0x00ffffffffffffffull);
    // 0x0100000000000000: bit 56 = 1 with bits 63:57 = 0 -> #GP(0).
    require_fault(t.seg.linearize(SegReg::DS, 0x0100000000000000ull, 1, AccessType::read).fault,
                  VEC_GP, 0);
    require_fault(t.seg.linearize(SegReg::DS, 0x00ffffffffffffffull, 2, AccessType::read).fault,
                  VEC_GP, 0);
    require_la(t.seg.linearize(SegReg::DS, 0xff00000000000000ull, 1, AccessType::read),
               0xff00000000000000ull);
    // 0xfeffffffffffffff: bit 56 = 0 under ones in 63:57 -> #SS(0) through SS.
    require_fault(t.seg.linearize(SegReg::SS, 0xfeffffffffffffffull, 1, AccessType::read).fault,
                  VEC_SS, 0);
    // The old 48-bit hole is canonical now.
    require_la(t.seg.linearize(SegReg::DS, 0xffff000000000000ull, 1, AccessType::read),
               0xffff000000000000ull);
}

TEST_CASE("segmentation: 64-bit mode bases, limits and null segments", "[segmentation][64bit]") {
    Rig64 t;
    // A DS descriptor with base 0x1000 and limit 0: in 64-bit mode its base counts as 0 and its
    // limit is not checked (SDM 3.4.4, 5.3.1).
    write_gdt_entry(t.ram, PhysAddr{0x1000}, 12, desc(0x1000, 0, 0x2, 0, true, true, false));
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::ES, 0x60, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::ES, 0x5000, 4, AccessType::read), 0x5000);
    // FS and GS bases (IA32_FS_BASE / IA32_GS_BASE) are added.
    t.seg.set_base(SegReg::FS, 0x00007f0000000000ull);
    t.seg.set_base(SegReg::GS, 0xffff888000000000ull);
    require_la(t.seg.linearize(SegReg::FS, 0x28, 8, AccessType::read), 0x00007f0000000028ull);
    require_la(t.seg.linearize(SegReg::GS, 0x10, 8, AccessType::read), 0xffff888000000010ull);
    // The sum is checked: FS base near the top of the lower half plus an offset -> #GP(0).
    t.seg.set_base(SegReg::FS, 0x00007ffffffff000ull);
    require_fault(t.seg.linearize(SegReg::FS, 0x1000, 1, AccessType::read).fault, VEC_GP, 0);

    // Null selectors: DS may be used in 64-bit mode (SDM 5.4.1.1).
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, 0, 0, t.rd).raised());
    require_la(t.seg.linearize(SegReg::DS, 0x1234, 4, AccessType::write), 0x1234);
    // SS may be null at CPL < 3 when RPL = CPL: (0, CPL 0) and (1, CPL 1) load;
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::SS, 0, 0, t.rd).raised());
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::SS, 1, 1, t.rd).raised());
    // RPL != CPL or CPL 3 -> #GP(0).
    require_fault(t.seg.load_data_segment(SegReg::SS, 0, 1, t.rd), VEC_GP, 0);
    require_fault(t.seg.load_data_segment(SegReg::SS, 3, 3, t.rd), VEC_GP, 0);
}

TEST_CASE("segmentation: compatibility mode checks limits as protected mode does",
          "[segmentation][64bit]") {
    Rig64 t;
    // IRET to __USER32_CS (L = 0, DPL 3, RPL 3): compatibility mode at CPL 3.
    REQUIRE_FALSE(t.seg.load_code_segment_return(linux_x86_64::USER32_CS, 0, t.rd).raised());
    CHECK(t.seg.cpl() == 3);
    CHECK_FALSE(t.seg.in_64bit_mode());
    REQUIRE_FALSE(t.seg.load_data_segment(SegReg::DS, linux_x86_64::USER_DS, 3, t.rd).raised());
    // Flat 4 GiB: the last dword fits, a byte beyond faults; no 64-bit addresses.
    require_la(t.seg.linearize(SegReg::DS, 0xfffffffc, 4, AccessType::read), 0xfffffffc);
    require_fault(t.seg.linearize(SegReg::DS, 0xfffffffd, 4, AccessType::read).fault, VEC_GP, 0);
    // A code segment with L = 1 and D = 1 is reserved in IA-32e mode: #GP(0x60).
    write_gdt_entry(t.ram, PhysAddr{0x1000}, 12,
                    desc(0, 0xfffff, 0xA, 3, true, true, true, true, /*l=*/true));
    require_fault(t.seg.load_code_segment(0x63, 3, t.rd), VEC_GP, 0x60);
}

TEST_CASE("segmentation: canonical helper", "[segmentation][64bit]") {
    CHECK(is_canonical(0, false));
    CHECK(is_canonical(0x00007fffffffffffull, false));
    CHECK_FALSE(is_canonical(0x0000800000000000ull, false));
    CHECK(is_canonical(0xffff800000000000ull, false));
    CHECK_FALSE(is_canonical(0xfffe800000000000ull, false));
    CHECK(is_canonical(0x00ffffffffffffffull, true));
    CHECK_FALSE(is_canonical(0x0100000000000000ull, true));
    CHECK(is_canonical(0xff00000000000000ull, true));
    CHECK_FALSE(is_canonical(0xfeffffffffffffffull, true));
}
