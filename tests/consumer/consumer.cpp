// The same check from C++: dif.h must be usable as-is from a C++ program.
#include <dif.h>

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
  return dif_context_threads(ctx.get()) == 2 ? 0 : 1;
}
