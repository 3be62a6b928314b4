// Shared by the libFuzzer targets: what counts as the expected outcome of bad input, and how a
// finding is reported.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "harness/json_input.hpp"
#include "kernels/ops.hpp"

namespace costcurve::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A finding: print it and abort, so libFuzzer saves the input as crash-<sha1>.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==costcurve fuzz== FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs f. InputError and OpError are the documented "bad input" outcomes; their messages must not
// be empty. Any other exception is a finding.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    if (std::string(e.what()).empty()) finding("InputError with an empty message");
  } catch (const OpError& e) {
    if (std::string(e.what()).empty()) finding("OpError with an empty message");
  } catch (const std::exception& e) {
    finding(std::string("unexpected exception ") + typeid(e).name() + ": " + e.what());
  } catch (...) {
    finding("unexpected exception of a type not derived from std::exception");
  }
}

// Runs f where no exception at all is acceptable (e.g. reading back what was just written).
template <class F>
void expect_no_throw(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    finding(std::string(what) + ": " + typeid(e).name() + ": " + e.what());
  } catch (...) {
    finding(std::string(what) + ": exception of a type not derived from std::exception");
  }
}

}  // namespace costcurve::fuzz
