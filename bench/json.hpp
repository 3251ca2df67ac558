// A minimal JSON writer for the benchmark's results: objects, arrays, numbers,
// strings and booleans, written in order with commas and indentation handled
// here. Non-finite numbers become null.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

class JsonWriter {
 public:
  void begin_object(const char *key = nullptr) { open(key, '{'); }
  void end_object() { close('}'); }
  void begin_array(const char *key = nullptr) { open(key, '['); }
  void end_array() { close(']'); }

  void number(const char *key, double value) {
    prefix(key);
    if (!std::isfinite(value)) {
      out_ += "null";
      return;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out_ += buf;
  }
  void integer(const char *key, int64_t value) {
    prefix(key);
    out_ += std::to_string(value);
  }
  void boolean(const char *key, bool value) {
    prefix(key);
    out_ += value ? "true" : "false";
  }
  void string(const char *key, const std::string &value) {
    prefix(key);
    quote(value);
  }

  const std::string &text() const { return out_; }

 private:
  void open(const char *key, char bracket) {
    prefix(key);
    out_ += bracket;
    first_.push_back(true);
  }
  void close(char bracket) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += bracket;
    if (first_.empty()) out_ += '\n';
  }
  void prefix(const char *key) {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      newline();
    }
    if (key != nullptr) {
      quote(key);
      out_ += ": ";
    }
  }
  void newline() {
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
  }
  void quote(const std::string &s) {
    out_ += '"';
    for (const char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += ch;
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += ch;
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
};

}  // namespace bench
