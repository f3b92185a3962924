// Compiling and running scenario text in the workloads tests.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "workloads/driver.h"
#include "workloads/scenario.h"

namespace mmemu::test {

// The scenario `text` compiled (the test fails on any diagnostic).
inline Scenario compile_text(const std::string& name, const std::string& text) {
    CompileResult c = compile_scenario(name, text);
    std::string errors;
    for (const auto& d : c.errors) errors += format_diagnostic(name, d) + "\n";
    INFO(errors);
    REQUIRE(c.errors.empty());
    return std::move(*c.scenario);
}

// Its machine booted (the test fails if it cannot).
inline std::unique_ptr<Driver> boot_driver(const Scenario& sc, RunOptions opt = {}) {
    std::string error;
    auto d = Driver::boot(sc, opt, error);
    INFO(error);
    REQUIRE(d);
    return d;
}

// Compiled and run to the end: its statistics, with a host block. `prepare` runs before the
// first event.
inline ojson run_text(const std::string& name, const std::string& text,
                      void (*prepare)(Driver&) = nullptr) {
    const Scenario sc = compile_text(name, text);
    auto d = boot_driver(sc);
    if (prepare) prepare(*d);
    d->run();
    HostInfo host{"host", 0.5, 1};
    return d->statistics(&host);
}

} // namespace mmemu::test
