#pragma once
/// \file
/// \brief Umbrella header for PyTorch checkpoint I/O: Tensor, StateDict, PickleValue,
/// load_torch / load_state_dict and save_torch / save_state_dict. See docs/checkpoint-format.md.

#include <nernst/io/checkpoint/pickle_value.hpp>
#include <nernst/io/checkpoint/tensor.hpp>
#include <nernst/io/checkpoint/torch_load.hpp>
#include <nernst/io/checkpoint/torch_save.hpp>
