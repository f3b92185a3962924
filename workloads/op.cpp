#include "workloads/op.h"

#include <stdexcept>

#include "emulator/machine.h"
#include "workloads/op_table.h"

namespace mmemu {

OpParser::OpParser(Checker& c, const json& e, std::string p, const OpSpec& s, CompileState& st,
                   uint32_t i)
    : ck(c), event(e), path(std::move(p)), spec(s), state(st), index(i) {
    std::vector<const char*> known{"op"};
    for (const auto& f : spec.fields) known.push_back(f.name);
    ck.only(event, path, known);
    for (const auto& f : spec.fields)
        if (f.required && !event.contains(f.name) && f.kind != FieldKind::integer &&
            f.kind != FieldKind::number && f.kind != FieldKind::size &&
            f.kind != FieldKind::string && f.kind != FieldKind::enumeration)
            ck.error(field_path(f.name), "required field is missing");
}

const FieldSpec& OpParser::field(const char* name) const {
    for (const auto& f : spec.fields)
        if (std::string_view(f.name) == name) return f;
    // A parse function reading a field its spec does not declare is a bug in mmemu: the
    // declaration is what the docs, the schema check and the unknown-field check read.
    throw std::logic_error(std::string("op ") + spec.name + " reads undeclared field " + name);
}

bool OpParser::has(const char* name) const {
    (void)field(name);
    return event.contains(name);
}

std::optional<int64_t> OpParser::integer(const char* name, std::optional<int64_t> dflt) {
    const FieldSpec& f = field(name);
    return ck.integer(event, path, name, f.min, f.max, f.required ? std::nullopt : dflt);
}

std::optional<uint64_t> OpParser::number(const char* name, std::optional<uint64_t> dflt) {
    const FieldSpec& f = field(name);
    return ck.u64(event, path, name, f.required ? std::nullopt : dflt);
}

std::optional<uint64_t> OpParser::size(const char* name, std::optional<uint64_t> dflt) {
    const FieldSpec& f = field(name);
    return ck.size(event, path, name, f.required ? std::nullopt : dflt);
}

std::optional<std::string> OpParser::string(const char* name, std::optional<std::string> dflt) {
    const FieldSpec& f = field(name);
    return ck.string(event, path, name, f.required ? std::nullopt : std::move(dflt));
}

std::optional<unsigned> OpParser::choice(const char* name, std::optional<unsigned> dflt) {
    const FieldSpec& f = field(name);
    if (!event.contains(name)) {
        if (f.required) ck.error(field_path(name), "required field is missing (expected a string)");
        return f.required ? std::nullopt : dflt;
    }
    auto s = ck.string(event, path, name, std::nullopt);
    if (!s) return std::nullopt;
    for (size_t i = 0; i < f.choices.size(); i++)
        if (*s == f.choices[i]) return unsigned(i);
    std::string list;
    for (size_t i = 0; i < f.choices.size(); i++)
        list += std::string(i ? (i + 1 == f.choices.size() ? " or " : ", ") : "") + "\"" +
                f.choices[i] + "\"";
    ck.error(field_path(name), "expected " + list + ", got \"" + *s + "\"");
    return std::nullopt;
}

std::optional<bool> OpParser::boolean(const char* name, bool dflt) {
    (void)field(name);
    return ck.boolean(event, path, name, dflt);
}

std::optional<gfp_t> OpParser::gfp(const char* name, const char* dflt) {
    (void)field(name);
    return ck.gfp(event, path, name, dflt);
}

const json* OpParser::raw(const char* name) {
    (void)field(name);
    return event.contains(name) ? &event[name] : nullptr;
}

uint16_t OpParser::cpu() {
    const int64_t max_cpu = int64_t(state.machine->nr_cpus) - 1;
    auto c = integer("cpu", 0);
    if (c && *c > max_cpu) {
        error("cpu", "expected a CPU of the machine (0 to " + std::to_string(max_cpu) + "), got " +
                         std::to_string(*c));
        return 0;
    }
    return uint16_t(c.value_or(0));
}

} // namespace mmemu
