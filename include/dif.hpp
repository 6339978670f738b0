// dif.hpp — a header-only C++17 RAII wrapper of libdif's C API (dif.h),
// installed next to it: #include <dif.hpp>.
//
//   dif::context ctx(dif::default_model_dir());
//   dif::sample s(ctx, dif::prompt().add_image_file("cat.png"));
//   s.steps(20).seed(7).run();
//   s.save_png(0, "variation.png");
//
// Handles free themselves; every failing call throws dif::error with libdif's
// status and message. It needs only dif.h and the C++17 standard library.
#pragma once

#include <dif.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace dif {

// A failed libdif call: status() and the library's message in what().
class error : public std::runtime_error {
public:
  error(dif_status status, const std::string &message)
      : std::runtime_error(message + " (" + dif_status_string(status) + ")"), status_(status) {}
  dif_status status() const noexcept { return status_; }

private:
  dif_status status_;
};

// libdif's default model folder (dif_default_model_dir), "" if none is found.
inline std::string default_model_dir() {
  const char *dir = dif_default_model_dir();
  return dir ? dir : "";
}

namespace detail {
template <class T, void (*Free)(T *)> struct deleter {
  void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)> using handle = std::unique_ptr<T, deleter<T, Free>>;
inline void check(dif_status status, const char *message) {
  if (status != DIF_OK) throw error(status, message);
}
} // namespace detail

// Loaded models (dif.h section 5). Shareable between threads once built.
class context {
public:
  explicit context(const std::string &model_dir, const std::string &prior_dir = "",
                   int threads = 0) {
    dif_context *c = nullptr;
    detail::check(dif_context_new(&c), dif_last_error());
    ctx_.reset(c);
    if (threads) check(dif_context_set_threads(c, threads));
    if (!prior_dir.empty()) check(dif_context_set_prior(c, prior_dir.c_str()));
    check(dif_context_load(c, model_dir.c_str()));
  }
  dif_context *get() const noexcept { return ctx_.get(); }
  bool is_unclip() const noexcept { return dif_context_is_unclip(get()) != 0; }
  bool has_prior() const noexcept { return dif_context_has_prior(get()) != 0; }
  bool has_image_encoder() const noexcept { return dif_context_has_image_encoder(get()) != 0; }
  // The JSON description of the loaded model (dif_context_info).
  std::string info() const { return dif_context_info(get()); }

private:
  void check(dif_status s) const { detail::check(s, dif_context_last_error(get())); }
  detail::handle<dif_context, dif_context_free> ctx_;
};

// What to draw (dif.h section 6): weighted text and image parts.
class prompt {
public:
  prompt() {
    dif_prompt *p = nullptr;
    detail::check(dif_prompt_new(&p), dif_last_error());
    p_.reset(p);
  }
  prompt &add_text(const std::string &text, float weight = 1.0f) {
    return check(dif_prompt_add_text(get(), text.c_str(), weight));
  }
  prompt &add_image_file(const std::string &path, float weight = 1.0f) {
    return check(dif_prompt_add_image_file(get(), path.c_str(), weight));
  }
  prompt &add_image_rgb(const std::uint8_t *rgb, int width, int height, float weight = 1.0f) {
    return check(dif_prompt_add_image_rgb(get(), rgb, width, height, 3 * width, weight));
  }
  prompt &negative(const std::string &text) {
    return check(dif_prompt_set_negative(get(), text.c_str()));
  }
  dif_prompt *get() const noexcept { return p_.get(); }

private:
  prompt &check(dif_status s) {
    detail::check(s, dif_prompt_last_error(get()));
    return *this;
  }
  detail::handle<dif_prompt, dif_prompt_free> p_;
};

// One generation (dif.h section 7). The context must outlive it.
class sample {
public:
  // (step, total) after every denoising step. dif.h's cancel rule: return
  // true to cancel (run() then throws dif::error with DIF_ERR_CANCELLED),
  // false to go on. An exception thrown by it cancels the run and is
  // rethrown by run().
  using progress_fn = std::function<bool(int step, int total)>;

  sample(const context &ctx, const prompt &p) : state_(std::make_unique<state>()) {
    dif_sample *s = nullptr;
    detail::check(dif_sample_new(ctx.get(), p.get(), &s), dif_context_last_error(ctx.get()));
    s_.reset(s);
  }
  sample &size(int width, int height) { return check(dif_sample_set_size(get(), width, height)); }
  sample &steps(int n) { return check(dif_sample_set_steps(get(), n)); }
  sample &guidance(float g) { return check(dif_sample_set_guidance(get(), g)); }
  sample &prior_steps(int n) { return check(dif_sample_set_prior_steps(get(), n)); }
  sample &seed(std::uint64_t seed) { return check(dif_sample_set_seed(get(), seed)); }
  sample &batch(int n) { return check(dif_sample_set_batch(get(), n)); }
  sample &noise_level(int level) { return check(dif_sample_set_noise_level(get(), level)); }
  sample &scheduler(const std::string &name) {
    return check(dif_sample_set_scheduler(get(), name.c_str()));
  }
  sample &progress(progress_fn fn) {
    state_->fn = std::move(fn);
    return check(dif_sample_set_progress(get(), state_->fn ? &on_progress : nullptr, state_.get()));
  }
  // Runs on this thread; throws dif::error (DIF_ERR_CANCELLED when cancelled).
  void run() {
    dif_status s = dif_sample_run(get());
    if (state_->thrown) std::rethrow_exception(std::exchange(state_->thrown, nullptr));
    check(s);
  }
  void cancel() noexcept { dif_sample_cancel(get()); } // from any thread

  std::uint64_t seed() const noexcept { return dif_sample_seed(get()); }
  int count() const noexcept { return dif_sample_image_count(get()); }
  int width() const noexcept { return dif_sample_width(get()); }
  int height() const noexcept { return dif_sample_height(get()); }
  // Image i as RGB8 rows.
  std::vector<std::uint8_t> rgb(int i) const {
    std::vector<std::uint8_t> px(dif_sample_image_bytes(get()));
    detail::check(dif_sample_copy_image(get(), i, px.data(), px.size()),
                  dif_sample_last_error(get()));
    return px;
  }
  void save_png(int i, const std::string &path) const {
    detail::check(dif_sample_save_png(get(), i, path.c_str()), dif_sample_last_error(get()));
  }
  std::string parameters() const { return dif_sample_parameters(get()); }
  dif_sample *get() const noexcept { return s_.get(); }

private:
  struct state { // heap-held: the C library keeps a pointer to it
    progress_fn fn;
    std::exception_ptr thrown;
  };
  static int on_progress(std::int32_t step, std::int32_t total, void *user) {
    auto *st = static_cast<state *>(user);
    try {
      return st->fn(step, total) ? 1 : 0;
    } catch (...) { // never let an exception unwind through C
      st->thrown = std::current_exception();
      return 1;
    }
  }
  sample &check(dif_status s) {
    detail::check(s, dif_sample_last_error(get()));
    return *this;
  }
  std::unique_ptr<state> state_; // declared first: destroyed after the sample
  detail::handle<dif_sample, dif_sample_free> s_;
};

} // namespace dif
