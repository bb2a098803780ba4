# Test helpers: one GoogleTest binary for unit tests, and mpirun-launched multi-rank tests.
find_package(GTest REQUIRED)
include(GoogleTest)

# slimfit_add_test_binary(NAME SOURCES...): a GoogleTest binary linked to the framework.
function(slimfit_add_test_binary name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE slimfit_core GTest::gtest GTest::gtest_main)
  target_compile_options(${name} PRIVATE ${SLIMFIT_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    SLIMFIT_FIXTURE_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures"
    SLIMFIT_BINARY="$<TARGET_FILE:slimfit>")
  if(SLIMFIT_PCH)
    target_precompile_headers(${name} REUSE_FROM slimfit_core)
  endif()
endfunction()

# slimfit_add_mpi_test(NAME NP BINARY [ARGS...]): runs BINARY under mpirun with NP ranks.
function(slimfit_add_mpi_test name np binary)
  add_test(NAME ${name}
           COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe ${MPIEXEC_NUMPROC_FLAG}
                   ${np} $<TARGET_FILE:${binary}> ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 PROCESSORS ${np})
endfunction()
