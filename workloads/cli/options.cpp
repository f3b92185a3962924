#include "workloads/cli/options.h"

#include <iostream>

#include "workloads/cli/exit_codes.h"

namespace po = boost::program_options;

namespace mmemu::cli {

int parse_command_line(int argc, char** argv, const po::options_description& desc,
                       po::variables_map& vm, std::vector<std::string>& args) {
    po::options_description all;
    all.add(desc);
    all.add_options()("positional-arguments", po::value<std::vector<std::string>>());
    po::positional_options_description pos;
    pos.add("positional-arguments", -1);
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "mmemu: " << e.what() << "\n\n" << desc;
        return EXIT_BAD_INPUT;
    }
    if (vm.count("help")) {
        std::cout << desc;
        return -1;
    }
    args = vm.count("positional-arguments")
               ? vm["positional-arguments"].as<std::vector<std::string>>()
               : std::vector<std::string>{};
    return EXIT_OK;
}

} // namespace mmemu::cli
