#pragma once
/// \file
/// \brief Space-group types and operations from spglib's built-in database (530 Hall settings).

#include <nernst/core/error.hpp>
#include <nernst/symmetry/symmetry_operation.hpp>

#include <spglib.h>

#include <string>
#include <vector>

NERNST_NAMESPACE_BEGIN
namespace symmetry {

/// What spglib knows about one Hall setting of a space group.
struct SpaceGroupType {
  int number = 0;                       ///< International Tables number, 1-230
  int hall_number = 0;                  ///< spglib's serial number of the setting, 1-530
  std::string international_short;      ///< e.g. "P-3m1", "P6_3mc"
  std::string international_full;       ///< e.g. "P -3 2/m 1"
  std::string international;            ///< e.g. "P -3 m 1"
  std::string schoenflies;              ///< e.g. "D3d^3"
  std::string hall_symbol;              ///< e.g. "-P 3 2\""
  std::string choice;                   ///< setting choice: "", "1", "2", "H", "R", "b", ...
  std::string point_group_international;
  std::string point_group_schoenflies;
};

/// Type of Hall setting `hall_number` (1-530). Throws ValueError outside that range.
inline SpaceGroupType space_group_type(int hall_number) {
  if (hall_number < 1 || hall_number > 530)
    throw ValueError("Hall number " + std::to_string(hall_number) + " is outside 1-530");
  const SpglibSpacegroupType t = spg_get_spacegroup_type(hall_number);
  if (t.number == 0) throw ValueError("spglib has no Hall setting " + std::to_string(hall_number));
  SpaceGroupType r;
  r.number = t.number;
  r.hall_number = t.hall_number;
  r.international_short = t.international_short;
  r.international_full = t.international_full;
  r.international = t.international;
  r.schoenflies = t.schoenflies;
  r.hall_symbol = t.hall_symbol;
  r.choice = t.choice;
  r.point_group_international = t.pointgroup_international;
  r.point_group_schoenflies = t.pointgroup_schoenflies;
  return r;
}

/// spglib's default Hall setting of space group `number` (1-230): the first one in its table,
/// i.e. unique axis b, origin choice 1, and hexagonal axes for rhombohedral groups.
/// `prefer_origin_choice_2` picks origin choice 2 where it exists (the ITA default used by most
/// CIFs for the 24 centrosymmetric groups with two origins).
inline int hall_number_from_space_group(int number, bool prefer_origin_choice_2 = false) {
  if (number < 1 || number > 230)
    throw ValueError("space-group number " + std::to_string(number) + " is outside 1-230");
  int first = 0;
  for (int h = 1; h <= 530; ++h) {
    const SpglibSpacegroupType t = spg_get_spacegroup_type(h);
    if (t.number != number) continue;
    if (!first) first = h;
    if (!prefer_origin_choice_2) break;
    if (std::string(t.choice) == "2") return h;
  }
  return first;
}

/// Operations of Hall setting `hall_number` (1-530) from spglib's database, in the
/// conventional cell of that setting.
inline std::vector<SymmetryOperation> operations_from_database(int hall_number) {
  if (hall_number < 1 || hall_number > 530)
    throw ValueError("Hall number " + std::to_string(hall_number) + " is outside 1-530");
  int rot[192][3][3];
  double trans[192][3];
  const int n = spg_get_symmetry_from_database(rot, trans, hall_number);
  if (n <= 0) throw ValueError("spglib returned no operations for Hall number " + std::to_string(hall_number));
  std::vector<SymmetryOperation> ops(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k)
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) ops[k].rotation(a, b) = rot[k][a][b];
      ops[k].translation[a] = trans[k][a];
    }
  return ops;
}

/// Operations of space group `number` (1-230) in spglib's default setting (see
/// hall_number_from_space_group).
inline std::vector<SymmetryOperation> operations_from_space_group(int number) {
  return operations_from_database(hall_number_from_space_group(number));
}

}  // namespace symmetry
NERNST_NAMESPACE_END
