// A small command-line parser shared by the examples: `--name value` / `--name=value` flags, the rest are files.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace patchcore_client {

// A mistake in the command line. main() prints its message and the usage and exits with kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit codes shared by all examples.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // a frame failed, or the call did not finish OK
constexpr int kExitUsage = 2;   // bad command line or unreadable input file

class CommandLine {
 public:
  // Parses argv. `known_flags` are the flag names the program accepts, without the leading "--".
  // Throws UsageError on an unknown flag or a flag without a value. "--help" sets help().
  CommandLine(int argc, const char* const* argv, const std::vector<std::string>& known_flags);

  bool help() const { return help_; }
  // The value of a flag that must be given; throws UsageError when it is missing.
  const std::string& required(const std::string& name) const;
  // The value of a flag, or `fallback` when it is not given.
  std::string value_or(const std::string& name, const std::string& fallback) const;
  // A non-negative integer flag, or `fallback`; throws UsageError when it is not a number or above `largest`
  // (pass the largest value of the field it goes into, so that it is not cut down to that field's size).
  std::uint64_t unsigned_or(const std::string& name, std::uint64_t fallback,
                            std::uint64_t largest = std::numeric_limits<std::uint64_t>::max()) const;
  // The arguments that are not flags (the input files), in order.
  const std::vector<std::string>& files() const { return files_; }
  // Throws UsageError when no input file is given.
  const std::vector<std::string>& required_files() const;

 private:
  std::map<std::string, std::string> flags_;
  std::vector<std::string> files_;
  bool help_ = false;
};

// Runs an example's body: parses the command line, prints `usage` on --help or a UsageError (exit kExitUsage),
// reports an InputError (exit kExitUsage) or any other exception (exit kExitFailed) on stderr.
// Returns the process exit code.
int run_example(int argc, const char* const* argv, const std::string& usage,
                const std::vector<std::string>& known_flags, const std::function<int(const CommandLine&)>& body);

}  // namespace patchcore_client
