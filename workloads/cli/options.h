// Reading a command's options and its positional arguments (shared by the commands).
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace mmemu::cli {

// Parses `desc`'s options and every positional argument into `args`. Returns 0 to go on, -1
// after printing --help, or EXIT_BAD_INPUT after printing the error and the usage.
int parse_command_line(int argc, char** argv,
                       const boost::program_options::options_description& desc,
                       boost::program_options::variables_map& vm, std::vector<std::string>& args);

} // namespace mmemu::cli
