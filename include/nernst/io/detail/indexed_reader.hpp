#pragma once
/// \file
/// \brief IndexedFrameReader: the streaming / random-access machinery shared by the multi-frame
/// readers (extended XYZ, LAMMPS dump). Frames are read one after another in bounded memory;
/// `frame_count`, `seek` and `read` use a byte-offset index that grows as frames are read or
/// skipped (one pass over the file at most, never more than needed).

#include <nernst/core/error.hpp>
#include <nernst/io/detail/line_reader.hpp>
#include <nernst/io/frame.hpp>

#include <algorithm>
#include <cstddef>
#include <istream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace io::detail {

/// CRTP base of a multi-frame reader. `Derived` provides, reading through `r_`:
///  - `bool read_one(Frame&)`: parses the next frame (leading blank lines allowed); false at a
///    clean end of file;
///  - `void skip_one()`: passes over one frame that is known to start (after blank lines) at the
///    current position, checking only what it needs to count its lines.
template <class Derived>
class IndexedFrameReader {
 public:
  /// Reads the next frame; false at the end of the file.
  bool next(Frame& f) {
    const Entry here{r_.tell(), r_.line()};
    if (cursor_ == index_.size() && !complete_) index_.push_back(here);
    if (!derived().read_one(f)) {
      complete_ = true;
      end_ = here;
      if (index_.size() > cursor_) index_.resize(cursor_);  // a trailing blank region is no frame
      return false;
    }
    ++cursor_;
    return true;
  }

  /// Number of frames (scans the rest of the file once, without parsing atoms).
  std::size_t frame_count() {
    if (!complete_) {
      const std::size_t keep = cursor_;
      index_to(std::numeric_limits<std::size_t>::max());
      seek(std::min(keep, index_.size()));
    }
    return index_.size();
  }

  /// Positions the reader so that `next` returns frame i (0-based). Throws ValueError past the end.
  void seek(std::size_t i) {
    index_to(i);
    if (i > index_.size() || (i == index_.size() && !complete_))
      throw ValueError("frame " + std::to_string(i) + " is past the end of '" + r_.name() + "' (" +
                       std::to_string(index_.size()) + " frames)");
    const Entry e = i == index_.size() ? end_ : index_[i];
    r_.seek(e.offset, e.line);
    cursor_ = i;
  }

  /// Frame i (random access).
  Frame read(std::size_t i) {
    seek(i);
    Frame f;
    if (!next(f)) throw ValueError("frame " + std::to_string(i) + " is past the end of '" + r_.name() + "'");
    return f;
  }

  /// Index of the frame `next` returns.
  std::size_t position() const { return cursor_; }
  const std::string& name() const { return r_.name(); }

 protected:
  explicit IndexedFrameReader(const std::string& path) : r_(path) {}
  /// Reads from a caller-owned stream (must be seekable for seek/frame_count).
  IndexedFrameReader(std::istream& in, std::string name) : r_(in, std::move(name)) {}

  LineReader r_;

 private:
  struct Entry {
    std::streamoff offset;
    std::size_t line;  ///< lines before the frame
  };

  Derived& derived() { return static_cast<Derived&>(*this); }

  /// Extends the index until it holds frame i or the file ends (cheap scan: count lines).
  void index_to(std::size_t i) {
    if (complete_ || i < index_.size()) return;
    // Continue after the last indexed frame.
    if (index_.empty()) {
      r_.seek(0, 0);
    } else {
      r_.seek(index_.back().offset, index_.back().line);
      derived().skip_one();
    }
    std::string line;
    std::vector<std::string_view> tok;
    while (index_.size() <= i) {
      Entry e{r_.tell(), r_.line()};
      do {  // a frame starts at its first non-blank line
        e = {r_.tell(), r_.line()};
        if (!r_.next(line)) {
          complete_ = true;
          end_ = e;
          return;
        }
        split_ws_into(line, tok);
      } while (tok.empty());
      index_.push_back(e);
      r_.seek(e.offset, e.line);
      derived().skip_one();
    }
  }

  std::vector<Entry> index_;
  Entry end_{0, 0};
  std::size_t cursor_ = 0;
  bool complete_ = false;
};

}  // namespace io::detail
NERNST_NAMESPACE_END
