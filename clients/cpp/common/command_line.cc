#include "common/command_line.h"

#include "common/files.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <iostream>

namespace patchcore_client {

CommandLine::CommandLine(int argc, const char* const* argv, const std::vector<std::string>& known_flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      files_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError("--" + name + " needs a value");
    }
    if (std::find(known_flags.begin(), known_flags.end(), name) == known_flags.end()) {
      throw UsageError("unknown option --" + name);
    }
    flags_[name] = value;
  }
}

const std::string& CommandLine::required(const std::string& name) const {
  const auto it = flags_.find(name);
  if (it == flags_.end() || it->second.empty()) {
    throw UsageError("--" + name + " is required");
  }
  return it->second;
}

std::string CommandLine::value_or(const std::string& name, const std::string& fallback) const {
  const auto it = flags_.find(name);
  return it == flags_.end() ? fallback : it->second;
}

std::uint64_t CommandLine::unsigned_or(const std::string& name, std::uint64_t fallback,
                                       std::uint64_t largest) const {
  const auto it = flags_.find(name);
  if (it == flags_.end()) {
    return fallback;
  }
  const std::string& text = it->second;
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw UsageError("--" + name + " must be a non-negative whole number, got '" + text + "'");
  }
  const UsageError too_large("--" + name + " must be at most " + std::to_string(largest) + ", got " + text);
  try {
    const std::uint64_t value = std::stoull(text);
    if (value > largest) {
      throw too_large;
    }
    return value;
  } catch (const std::out_of_range&) {
    throw too_large;
  }
}

const std::vector<std::string>& CommandLine::required_files() const {
  if (files_.empty()) {
    throw UsageError("no input file given");
  }
  return files_;
}

int run_example(int argc, const char* const* argv, const std::string& usage,
                const std::vector<std::string>& known_flags, const std::function<int(const CommandLine&)>& body) {
  try {
    const CommandLine command_line(argc, argv, known_flags);
    if (command_line.help()) {
      std::cout << usage;
      return kExitOk;
    }
    return body(command_line);
  } catch (const UsageError& error) {
    std::cerr << "error: " << error.what() << "\n\n" << usage;
    return kExitUsage;
  } catch (const InputError& error) {
    std::cerr << "error: " << error.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace patchcore_client
