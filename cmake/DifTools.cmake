# The tools the bindings and examples need beyond a C compiler, found once
# (bindings/ and examples/ include this). Debian packages, installed by
# tools/install-deps --dev. A missing tool skips its tests with the reason
# shown by ctest, unless DIF_REQUIRE_BINDINGS=ON (tools/test sets it): then
# configuring fails, so CI can never pass by skipping.


# Debian's python3: apt installs pycparser, pytest, numpy and Pillow for it,
# whatever other python3 comes first in PATH.
find_program(DIF_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(DIF_PYTHON3 NAMES python3)
find_program(DIF_GO NAMES go PATHS /usr/bin NO_DEFAULT_PATH)
find_program(DIF_GO NAMES go)
find_program(DIF_GOFMT NAMES gofmt PATHS /usr/bin NO_DEFAULT_PATH)
find_program(DIF_GOFMT NAMES gofmt)
find_program(DIF_CPP NAMES cpp)

# dif_python_missing(VAR mod...): VAR = the modules DIF_PYTHON3 cannot import.
function(dif_python_missing var)
  set(missing "")
  foreach(m ${ARGN})
    if(DIF_PYTHON3)
      execute_process(COMMAND ${DIF_PYTHON3} -c "import ${m}" RESULT_VARIABLE rc
                      OUTPUT_QUIET ERROR_QUIET)
    else()
      set(rc 1)
    endif()
    if(NOT rc EQUAL 0)
      list(APPEND missing ${m})
    endif()
  endforeach()
  set(${var} "${missing}" PARENT_SCOPE)
endfunction()

# dif_skip(TEST REASON): a ctest test that reports itself skipped, with the
# reason in its output; a configure error instead under DIF_REQUIRE_BINDINGS.
function(dif_skip name reason)
  if(DIF_REQUIRE_BINDINGS AND NOT reason MATCHES "^sanitized")
    message(FATAL_ERROR "${name}: ${reason} (DIF_REQUIRE_BINDINGS=ON; tools/install-deps --dev installs it)")
  endif()
  message(STATUS "${name}: skipped: ${reason}")
  add_test(NAME ${name} COMMAND sh -c "echo 'skipped: ${reason}'; exit 77")
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()

# Why the Python/Go tests cannot run in this build ("" if they can): they load
# libdif.so into an interpreter or Go binary built without the sanitizers.
set(DIF_FOREIGN_SKIP "")
if(DIF_SANITIZE OR DIF_TSAN)
  set(DIF_FOREIGN_SKIP "sanitized build: python3 and go binaries cannot load an ASan/TSan libdif.so; the release build runs these tests")
endif()

# The environment in which go builds against this build tree: an uninstalled
# dif.pc, caches inside the build tree, no module downloads ever.
set(DIF_GO_ENV
    PKG_CONFIG_PATH=${CMAKE_BINARY_DIR}/bindings/pkgconfig
    LD_LIBRARY_PATH=$<TARGET_FILE_DIR:dif>
    GOCACHE=${CMAKE_BINARY_DIR}/go/cache
    GOPATH=${CMAKE_BINARY_DIR}/go/path
    GOPROXY=off
    GOFLAGS=-buildvcs=false
    GO111MODULE=on
    CGO_ENABLED=1)
