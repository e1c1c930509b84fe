// nernst's stand-in for LAMMPS' bundled fmt, for building against Debian's liblammps-dev, which
// ships headers that include "fmt/format.h" but not the bundled fmt itself (and Debian's fmt 9
// lacks make_args_checked). These are declarations only, in LAMMPS' fmt namespace (v7_lmp), so
// that pointers.h, utils.h and error.h parse. Code built with it must call only the
// non-formatting overloads, e.g. error->all(FLERR, std::string(...)) and utils::logmesg(lmp, str).
#pragma once
namespace fmt {
inline namespace v7_lmp {
class string_view;
class format_args;
template <typename... Args, typename S, typename... A>
int make_args_checked(const S&, const A&...);
}  // namespace v7_lmp
}  // namespace fmt
