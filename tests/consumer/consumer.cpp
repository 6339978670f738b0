// The same check from C++: dif.h must be usable as-is from a C++ program,
// and the installed C++ wrapper dif.hpp next to it.
#include <dif.h>
#include <dif.hpp>

#include <cstdio>
#include <memory>

struct ContextDeleter {
  void operator()(dif_context *c) const { dif_context_free(c); }
};

int main() {
  dif_context *raw = nullptr;
  if (dif_context_new(&raw) != DIF_OK) return 1;
  std::unique_ptr<dif_context, ContextDeleter> ctx(raw);
  if (dif_context_set_threads(ctx.get(), 2) != DIF_OK) return 1;
  std::printf("libdif %s from C++, %d threads\n", dif_version_string(),
              dif_context_threads(ctx.get()));
  if (dif_context_threads(ctx.get()) != 2) return 1;
  try { // dif.hpp: a failing call throws dif::error with libdif's status
    dif::context missing("/nonexistent/dif-consumer-model");
    return 1;
  } catch (const dif::error &e) {
    if (e.status() != DIF_ERR_IO) return 1;
  }
  return 0;
}
