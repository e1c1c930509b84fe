# `nernst finetune --model <MACE .model>` on three labelled LiCl cells (extxyz with energies,
# forces and stresses written here): the summary names MACE and the training loss falls; the
# written .model loads in `nernst eval --model` (double) and gives a different energy than the
# source model (the weights were trained and written into the archive's storages). A non-.model
# --out is refused before training. Arguments: DRIVER, MODEL, STRUCT (a POSCAR to evaluate), WORK (dir).
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(xyz "")
# Per frame: half the cubic lattice constant, energy (eV), x-forces on Li and Cl (eV/Å), stress (eV/Å³).
foreach(frame "2.565;-3.2;0.10;-0.10;0.002" "2.50;-3.4;-0.05;0.05;0.004" "2.65;-3.1;0.20;-0.20;-0.001")
  list(GET frame 0 h)
  list(GET frame 1 e)
  list(GET frame 2 fli)
  list(GET frame 3 fcl)
  list(GET frame 4 s)
  string(APPEND xyz "2\nLattice=\"0 ${h} ${h} ${h} 0 ${h} ${h} ${h} 0\" Properties=species:S:1:pos:R:3:forces:R:3 "
                    "energy=${e} stress=\"${s} 0 0 0 ${s} 0 0 0 ${s}\" pbc=\"T T T\"\n"
                    "Li 0.0 0.0 0.0 ${fli} 0.0 0.0\nCl ${h} 0.03 0.0 ${fcl} 0.0 0.0\n")
endforeach()
file(WRITE "${WORK}/licl_labelled.extxyz" "${xyz}")

execute_process(COMMAND "${DRIVER}" finetune --model "${MODEL}" --train "${WORK}/licl_labelled.extxyz"
                        --val-fraction 0 --epochs 2 --out "${WORK}/not_a_model_file" --quiet
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT err MATCHES "must end in .model")
  message(FATAL_ERROR "a MACE fine-tune to a non-.model path was not refused (${rc}): ${err}")
endif()

execute_process(COMMAND "${DRIVER}" finetune --model "${MODEL}" --train "${WORK}/licl_labelled.extxyz"
                        --val-fraction 0 --epochs 5 --batch-size 3 --lr 1e-3 --out "${WORK}/mace_finetuned.model" --quiet
                        --summary-json "${WORK}/summary.json" --log-json "${WORK}/log.json"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nernst finetune failed (${rc}): ${err}")
endif()
file(READ "${WORK}/summary.json" summary)
string(JSON arch GET "${summary}" architecture)
if(NOT arch STREQUAL "MACE")
  message(FATAL_ERROR "expected architecture MACE, got '${arch}'")
endif()
file(READ "${WORK}/log.json" log)
string(JSON l0 GET "${log}" initial_train loss)
string(JSON l1 GET "${log}" final_train loss)
if(NOT l1 LESS l0)
  message(FATAL_ERROR "training loss did not fall: ${l0} -> ${l1}")
endif()

foreach(m "${MODEL}" "${WORK}/mace_finetuned.model")
  execute_process(COMMAND "${DRIVER}" eval --model "${m}" --precision double "${STRUCT}"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nernst eval --model ${m} failed (${rc}): ${err}")
  endif()
  string(JSON arch GET "${out}" architecture)
  if(NOT arch STREQUAL "MACE")
    message(FATAL_ERROR "eval of ${m}: expected architecture MACE, got '${arch}'")
  endif()
  string(JSON e GET "${out}" energy)
  list(APPEND energies "${e}")
endforeach()
list(GET energies 0 e_src)
list(GET energies 1 e_ft)
if(e_src STREQUAL e_ft)
  message(FATAL_ERROR "the fine-tuned model gives the source model's energy ${e_src} eV")
endif()
message(STATUS "nernst finetune (MACE): train loss ${l0} -> ${l1}; eval energy source ${e_src} eV, fine-tuned ${e_ft} eV")
