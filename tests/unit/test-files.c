/* Files that are not files and output that clobbers (issue 13, items 6, 7).
 *
 * Reading: every file libdif reads goes
 * through dif__file_open_read, which accepts regular files only and never
 * blocks. A FIFO, directory, device or socket in place of a config, a
 * tokenizer file, preprocessor_config.json, dif_defaults.json, weights, an
 * image or a record is refused with a message naming the file and saying
 * what it is; so are symbolic link loops and dangling links.
 *
 * A FIFO that is opened for reading blocks until a writer comes, so a broken
 * reader would hang this test: an alarm ends the program with a message
 * instead.
 *
 * Writing (dif__file_write_atomic, dif_check_output_path): only an absent or
 * regular, writable target is written; links, FIFOs, devices, sockets and
 * directories are refused before anything is written and left as they were;
 * a replaced file keeps its mode (and as root its owner); a 250-byte name
 * works; no temporary file is left behind.
 *
 * Everything is built under a mkdtemp folder in /tmp and removed. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/component.h"
#include "io/config.h"
#include "io/fileio.h"
#include "io/image.h"
#include "io/model_folder.h"
#include "models/clip_preprocess.h"
#include "pipelines/defaults.h"
#include "test.h"
#include "text/clip_tokenizer.h"

static char scratch[64];

static const char *at(const char *rel) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 512, "%s/%s", scratch, rel);
  return p;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "test-files: timed out: a reader blocked on a FIFO\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
  _exit(2);
}

/* The kinds of non-file put in place of a file. */
typedef enum kind { FIFO, DIRECTORY, LOOP, DANGLING, KINDS } kind;
static const char *const kind_msg[KINDS] = {" is a FIFO, not a regular file",
                                            " is a directory, not a regular file",
                                            ": symbolic link loop", ": dangling symbolic link"};

static void make(kind k, const char *path) {
  unlink(path);
  rmdir(path);
  switch (k) {
  case FIFO: CHECK(mkfifo(path, 0644) == 0); break;
  case DIRECTORY: CHECK(mkdir(path, 0755) == 0); break;
  case LOOP: /* a link to itself */ CHECK(symlink(path, path) == 0); break;
  case DANGLING: CHECK(symlink("no-such-target", path) == 0); break;
  default: break;
  }
}

static void unmake(const char *path) {
  if (unlink(path) != 0) rmdir(path);
}

/* A folder dir whose entries are symbolic links to src's (recursively for
 * folders), so one file of a real model can be replaced. */
static void link_tree(const char *src, const char *dir) {
  CHECK(mkdir(dir, 0755) == 0);
  DIR *d = opendir(src);
  CHECK(d != NULL);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/%s", src, e->d_name);
    snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(from, &sb) == 0 && S_ISDIR(sb.st_mode))
      link_tree(from, to);
    else
      CHECK(symlink(from, to) == 0);
  }
  if (d) closedir(d);
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

/* err.msg is "<path><what>". */
static void check_named(dif_status got, dif_status want, const dif__error *err, const char *path,
                        const char *what) {
  char expect[1024];
  snprintf(expect, sizeof expect, "%s%s", path, what);
  const char *ex = expect;
  CHECK_STATUS(got, want, err->msg, ex);
}

TEST(read_all_refuses_every_kind) {
  const char *p = at("thing");
  for (int k = 0; k < KINDS; k++) {
    make((kind)k, p);
    uint8_t *data = (uint8_t *)1;
    size_t len = 1;
    dif__error e = {0};
    check_named(dif__file_read_all(p, 1 << 20, &data, &len, &e), DIF_ERR_IO, &e, p, kind_msg[k]);
    CHECK(data == NULL && len == 0);
    int fd = 7;
    check_named(dif__file_open_read(p, &fd, NULL, &e), DIF_ERR_IO, &e, p, kind_msg[k]);
    CHECK(fd == -1);
    unmake(p);
  }
  /* a missing file keeps the system's words */
  dif__error e = {0};
  int fd;
  check_named(dif__file_open_read(p, &fd, NULL, &e), DIF_ERR_IO, &e, p,
              ": cannot open: No such file or directory");
  /* a link to a regular file is followed */
  const char *real = at("real"), *link = at("link");
  FILE *f = fopen(real, "w");
  CHECK(f && fputs("x", f) >= 0);
  if (f) fclose(f);
  CHECK(symlink(real, link) == 0);
  uint8_t *data = NULL;
  size_t len = 0;
  CHECK_STATUS(dif__file_read_all(link, 10, &data, &len, &e), DIF_OK, e.msg, "");
  CHECK(len == 1 && data && data[0] == 'x');
  free(data);
  unlink(link);
  unlink(real);
}

TEST(devices_and_sockets_are_refused) {
  dif__error e = {0};
  const char *dev = at("null-device");
  /* mknod needs root (the test suite runs as root in CI); the device is
   * /dev/null's numbers, so nothing happens if it were read. */
  if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
    int fd;
    check_named(dif__file_open_read(dev, &fd, NULL, &e), DIF_ERR_IO, &e, dev,
                " is a character device, not a regular file");
    unlink(dev);
  } else {
    printf("     (skipped the character device: mknod: %s)\n", strerror(errno));
  }
  const char *sock = at("sock");
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock);
  CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0);
  int fd;
  check_named(dif__file_open_read(sock, &fd, NULL, &e), DIF_ERR_IO, &e, sock,
              " is a socket, not a regular file");
  if (s >= 0) close(s);
  unlink(sock);
}

TEST(images_records_and_configs_refuse_a_fifo) {
  const char *p = at("fifo.png");
  make(FIFO, p);
  dif__error e = {0};
  dif__image img;
  check_named(dif__image_load(p, NULL, &img, &e), DIF_ERR_IO, &e, p, kind_msg[FIFO]);
  char *text = (char *)1;
  check_named(dif__png_read_text(p, "dif:parameters", &text, &e), DIF_ERR_IO, &e, p,
              kind_msg[FIFO]);
  dif__config *cfg = (dif__config *)1;
  check_named(dif__config_load(p, &cfg, &e), DIF_ERR_IO, &e, p, kind_msg[FIFO]);
  CHECK(cfg == NULL);
  unmake(p);
}

TEST(tokenizer_files) {
  static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                      "special_tokens_map.json"};
  const char *dir = at("tokenizer");
  link_tree(dif__test_path("golden/models/tiny-sd/tokenizer"), dir);
  dif__error e = {0};
  dif__clip_tokenizer *tok = NULL;
  CHECK_STATUS(dif__clip_tokenizer_load(dir, &tok, &e), DIF_OK, e.msg, "");
  dif__clip_tokenizer_free(tok);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    for (int k = 0; k < KINDS; k++) {
      make((kind)k, path);
      tok = (dif__clip_tokenizer *)1;
      check_named(dif__clip_tokenizer_load(dir, &tok, &e), DIF_ERR_BAD_MODEL, &e, path,
                  kind_msg[k]);
      CHECK(tok == NULL);
      unmake(path);
    }
    char from[600];
    snprintf(from, sizeof from, "%s/%s", dif__test_path("golden/models/tiny-sd/tokenizer"),
             files[i]);
    CHECK(symlink(from, path) == 0);
  }
  /* special_tokens_map.json is optional: absent is fine */
  char path[600];
  snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
  unlink(path);
  tok = NULL;
  CHECK_STATUS(dif__clip_tokenizer_load(dir, &tok, &e), DIF_OK, e.msg, "");
  dif__clip_tokenizer_free(tok);
  remove_tree(dir);
}

TEST(preprocessor_config_and_defaults) {
  const char *dir = at("feature_extractor");
  CHECK(mkdir(dir, 0755) == 0);
  char path[600];
  snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
  dif__error e = {0};
  for (int k = 0; k < KINDS; k++) {
    make((kind)k, path);
    dif__clip_preprocess pp;
    check_named(dif__clip_preprocess_load(dir, &pp, &e), DIF_ERR_IO, &e, path, kind_msg[k]);
    unmake(path);
  }
  /* dif_defaults.json is optional, but something else by its name is an
   * error, never silently no defaults */
  snprintf(path, sizeof path, "%s/%s", dir, DIF__DEFAULTS_FILE);
  for (int k = 0; k < KINDS; k++) {
    make((kind)k, path);
    dif_defaults d;
    dif__defaults_init(&d, 512, true);
    check_named(dif__defaults_load(&d, dir, &e), DIF_ERR_IO, &e, path, kind_msg[k]);
    CHECK(!d.from_file);
    unmake(path);
  }
  rmdir(dir);
}

TEST(weights_and_model_index) {
  const char *dir = at("unet");
  CHECK(mkdir(dir, 0755) == 0);
  dif__error e = {0};
  static const char *const names[] = {"diffusion_pytorch_model.safetensors", "model.safetensors"};
  for (int i = 0; i < 2; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    for (int k = 0; k < KINDS; k++) {
      make((kind)k, path);
      dif__safetensors *st = (dif__safetensors *)1;
      check_named(dif__component_weights(dir, &st, &e), DIF_ERR_IO, &e, path, kind_msg[k]);
      CHECK(st == NULL);
      CHECK(strstr(e.msg, "no weights") == NULL);
      unmake(path);
    }
  }
  /* config.json likewise, and nothing at all is still "missing" */
  char path[600];
  snprintf(path, sizeof path, "%s/config.json", dir);
  dif__config *cfg;
  CHECK_STATUS(dif__component_config(dir, "config.json", NULL, &cfg, &e), DIF_ERR_BAD_MODEL, e.msg,
               "config.json: missing");
  make(FIFO, path);
  check_named(dif__component_config(dir, "config.json", NULL, &cfg, &e), DIF_ERR_IO, &e, path,
              kind_msg[FIFO]);
  unmake(path);
  rmdir(dir);

  const char *model = at("model");
  CHECK(mkdir(model, 0755) == 0);
  snprintf(path, sizeof path, "%s/model_index.json", model);
  for (int k = 0; k < KINDS; k++) {
    make((kind)k, path);
    dif__model_folder *mf = (dif__model_folder *)1;
    check_named(dif__model_folder_open(model, &mf, &e), DIF_ERR_IO, &e, path, kind_msg[k]);
    CHECK(mf == NULL);
    unmake(path);
  }
  rmdir(model);
}

/* Through the public API: a model folder with a FIFO for its vocabulary, and
 * a FIFO as an image prompt and as an init image. */
TEST(public_api) {
  const char *model = at("tiny-sd");
  link_tree(dif__test_path("golden/models/tiny-sd"), model);
  char path[600];
  snprintf(path, sizeof path, "%s/tokenizer/vocab.json", model);
  make(FIFO, path);
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, model), DIF_ERR_BAD_MODEL, dif_context_last_error(ctx),
               "tokenizer/vocab.json is a FIFO, not a regular file");
  dif_context_free(ctx);
  remove_tree(model);

  const char *img = at("image-fifo");
  make(FIFO, img);
  dif_prompt *p = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK_STATUS(dif_prompt_add_image_file(p, img, 1.0f), DIF_ERR_IO, dif_prompt_last_error(p),
               "image-fifo is a FIFO, not a regular file");
  dif_prompt_free(p);
  char buf[64];
  size_t size = sizeof buf;
  CHECK_STATUS(dif_read_png_parameters(img, buf, &size), DIF_ERR_IO, dif_last_error(),
               "image-fifo is a FIFO, not a regular file");
  unmake(img);
}

/* ---- writing ---- */

static int leftovers(void) {
  DIR *d = opendir(scratch);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strstr(e->d_name, ".dif-") != NULL || strstr(e->d_name, ".tmp") != NULL;
  if (d) closedir(d);
  return n;
}

static void put_text(const char *path, const char *text, mode_t mode) {
  unlink(path);
  FILE *f = fopen(path, "w");
  CHECK(f && fputs(text, f) >= 0);
  if (f) fclose(f);
  CHECK(chmod(path, mode) == 0);
}

static int has_text(const char *path, const char *text) {
  uint8_t *data = NULL;
  size_t len = 0;
  dif__error e = {0};
  int same = dif__file_read_all(path, 1 << 20, &data, &len, &e) == DIF_OK && len == strlen(text) &&
             (len == 0 || memcmp(data, text, len) == 0);
  free(data);
  return same;
}

/* Refused by the pre-check and by the writer with the same message. */
static void check_refused(const char *path, const char *what) {
  dif__error e = {0};
  const char *ex = what;
  CHECK_STATUS(dif__file_check_output(path, &e), DIF_ERR_IO, e.msg, ex);
  CHECK(strstr(e.msg, path) != NULL);
  CHECK_STATUS(dif__file_write_atomic(path, "new", 3, &e), DIF_ERR_IO, e.msg, ex);
  CHECK_STATUS(dif_check_output_path(path), DIF_ERR_IO, dif_last_error(), ex);
  CHECK(leftovers() == 0);
}

TEST(output_refuses_what_is_not_a_regular_file) {
  struct stat sb;
  const char *p = at("out.png"), *real = at("real.png");
  make(FIFO, p); /* a reader would block; the writer must not open it */
  check_refused(p, "is a FIFO, not a regular file");
  CHECK(lstat(p, &sb) == 0 && S_ISFIFO(sb.st_mode));
  unmake(p);
  make(DIRECTORY, p);
  check_refused(p, "is a directory, not a regular file");
  CHECK(lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
  unmake(p);
  /* a link to a regular file: neither followed nor replaced */
  put_text(real, "old", 0644);
  CHECK(symlink(real, p) == 0);
  check_refused(p, "is a symbolic link");
  CHECK(lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode) && has_text(real, "old"));
  unmake(p);
  unlink(real);
  make(DANGLING, p);
  check_refused(p, "is a symbolic link");
  CHECK(lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode));
  unmake(p);
  if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0) { /* /dev/null's numbers */
    check_refused(p, "is a character device, not a regular file");
    CHECK(lstat(p, &sb) == 0 && S_ISCHR(sb.st_mode));
    unmake(p);
  } else {
    printf("     (skipped the character device: mknod: %s)\n", strerror(errno));
  }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", p);
  CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0);
  check_refused(p, "is a socket, not a regular file");
  if (s >= 0) close(s);
  unmake(p);
  /* names that are folders, folders that are not */
  char dirpath[600];
  snprintf(dirpath, sizeof dirpath, "%s/", scratch);
  check_refused(dirpath, "names a directory");
  snprintf(dirpath, sizeof dirpath, "%s/no-such-folder/out.png", scratch);
  check_refused(dirpath, "no-such-folder");
  put_text(real, "x", 0644);
  snprintf(dirpath, sizeof dirpath, "%s/out.png", real);
  check_refused(dirpath, "Not a directory");
  unlink(real);
  dif__error e = {0};
  CHECK_STATUS(dif__file_check_output(NULL, &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "NULL");
  CHECK_STATUS(dif__file_check_output("", &e), DIF_ERR_INVALID_ARGUMENT, e.msg, "empty");
  CHECK_STATUS(dif_check_output_path(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(), "NULL");
}

TEST(output_read_only_files_are_refused) {
  /* even for root, who may write anything: a file without write bits */
  const char *p = at("ro.png");
  put_text(p, "old", 0444);
  check_refused(p, "is read-only (mode 0444)");
  CHECK(has_text(p, "old"));
  if (geteuid() == 0) { /* another user's read-only file */
    CHECK(chown(p, 65534, 65534) == 0);
    check_refused(p, "is read-only");
    CHECK(has_text(p, "old"));
  }
  unlink(p);
}

TEST(output_keeps_mode_and_owner) {
  const char *p = at("kept.png");
  static const mode_t modes[] = {0600, 0640, 0755, 0200};
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
    put_text(p, "old", modes[i]);
    dif__error e = {0};
    CHECK_STATUS(dif__file_write_atomic(p, "new", 3, &e), DIF_OK, e.msg, "");
    struct stat sb;
    CHECK(stat(p, &sb) == 0);
    CHECK_MSG((sb.st_mode & 07777) == modes[i], "mode %04o, expected %04o",
              (unsigned)(sb.st_mode & 07777), (unsigned)modes[i]);
    if (modes[i] & 0400) CHECK(has_text(p, "new"));
  }
  if (geteuid() == 0) {
    put_text(p, "old", 0644);
    CHECK(chown(p, 65534, 65533) == 0);
    dif__error e = {0};
    CHECK_STATUS(dif__file_write_atomic(p, "new", 3, &e), DIF_OK, e.msg, "");
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && sb.st_uid == 65534 && sb.st_gid == 65533);
    CHECK((sb.st_mode & 07777) == 0644 && has_text(p, "new"));
  }
  /* a new file: 0666 minus the umask */
  unlink(p);
  mode_t mask = umask(022);
  dif__error e = {0};
  CHECK_STATUS(dif__file_write_atomic(p, "new", 3, &e), DIF_OK, e.msg, "");
  umask(mask);
  struct stat sb;
  CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0644);
  unlink(p);
  CHECK(leftovers() == 0);
}

TEST(output_long_names) {
  char name[256];
  memset(name, 'n', 250);
  memcpy(name + 246, ".png", 5); /* 250 bytes */
  const char *p = at(name);
  dif__error e = {0};
  CHECK_STATUS(dif_check_output_path(p), DIF_OK, dif_last_error(), "");
  CHECK_STATUS(dif__file_write_atomic(p, "new", 3, &e), DIF_OK, e.msg, "");
  CHECK(has_text(p, "new"));
  unlink(p);
  memset(name, 'n', 255);
  name[255] = '\0';
  CHECK_STATUS(dif__file_write_atomic(at(name), "x", 1, &e), DIF_OK, e.msg, "");
  unlink(at(name));
  char longer[300];
  memset(longer, 'n', 299);
  longer[299] = '\0';
  check_refused(at(longer), "File name too long");
  CHECK(leftovers() == 0);
}

TEST(output_public_api_before_a_run) {
  /* dif_write_png onto a FIFO: refused, nothing blocks, the FIFO stays */
  const char *p = at("grid.png");
  make(FIFO, p);
  uint8_t rgb[8 * 8 * 3] = {0};
  CHECK_STATUS(dif_write_png(p, rgb, 8, 8, 24, NULL), DIF_ERR_IO, dif_last_error(),
               "is a FIFO, not a regular file");
  struct stat sb;
  CHECK(lstat(p, &sb) == 0 && S_ISFIFO(sb.st_mode));
  unmake(p);
  /* checking a good name creates nothing */
  CHECK_STATUS(dif_check_output_path(p), DIF_OK, dif_last_error(), "");
  CHECK(lstat(p, &sb) != 0 && errno == ENOENT);
  CHECK_STATUS(dif_write_png(p, rgb, 8, 8, 24, NULL), DIF_OK, dif_last_error(), "");
  CHECK(lstat(p, &sb) == 0 && S_ISREG(sb.st_mode));
  unlink(p);
  CHECK(leftovers() == 0);
}

int main(void) {
  snprintf(scratch, sizeof scratch, "/tmp/dif-test-files-XXXXXX");
  if (!mkdtemp(scratch)) {
    perror("mkdtemp");
    return 1;
  }
  signal(SIGALRM, on_alarm);
  alarm(30);
  RUN(read_all_refuses_every_kind);
  RUN(devices_and_sockets_are_refused);
  RUN(images_records_and_configs_refuse_a_fifo);
  RUN(tokenizer_files);
  RUN(preprocessor_config_and_defaults);
  RUN(weights_and_model_index);
  RUN(public_api);
  RUN(output_refuses_what_is_not_a_regular_file);
  RUN(output_read_only_files_are_refused);
  RUN(output_keeps_mode_and_owner);
  RUN(output_long_names);
  RUN(output_public_api_before_a_run);
  remove_tree(scratch);
  return dif__test_finish();
}
