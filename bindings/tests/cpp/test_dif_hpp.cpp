// The installed C++ header dif.hpp on the default model: dif.h's cancel rule
// (the progress callback returns true to cancel), errors as dif::error, the
// default model folder and the context's info.
#include <dif.hpp>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

static int failures = 0;
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

int main() {
  const std::string model = dif::default_model_dir();
  CHECK(!model.empty());
  dif::context ctx(model, "", 2);
  CHECK(ctx.info().find("\"default_model\"") != std::string::npos);
  CHECK(ctx.has_prior());

  // false goes on: every step is reported and the run succeeds
  int calls = 0, total_seen = 0;
  dif::sample s(ctx, dif::prompt().add_text("a red circle"));
  s.steps(3).prior_steps(2).seed(7).progress([&](int, int total) {
    calls++;
    total_seen = total;
    return false;
  });
  s.run();
  CHECK(calls == 5 && total_seen == 5);
  CHECK(s.count() == 1);

  // true cancels: the run stops after that step with DIF_ERR_CANCELLED
  calls = 0;
  s.progress([&](int step, int) {
    calls++;
    return step >= 2;
  });
  try {
    s.run();
    CHECK(!"run() returned after the progress callback cancelled");
  } catch (const dif::error &e) {
    CHECK(e.status() == DIF_ERR_CANCELLED);
  }
  CHECK(calls == 2);

  // an exception in the callback cancels and is rethrown
  s.progress([](int, int) -> bool { throw std::runtime_error("stop"); });
  try {
    s.run();
    CHECK(!"run() returned after the callback threw");
  } catch (const std::runtime_error &e) {
    CHECK(std::strcmp(e.what(), "stop") == 0);
  }

  // an error is a dif::error with libdif's status
  try {
    s.steps(0);
    CHECK(!"steps(0) was accepted");
  } catch (const dif::error &e) {
    CHECK(e.status() == DIF_ERR_INVALID_ARGUMENT);
  }
  if (failures) return 1;
  std::printf("dif.hpp: ok\n");
  return 0;
}
