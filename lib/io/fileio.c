/* fileio.c — opening files for reading, whole-file reads and atomic
 * whole-file writes (POSIX). */
#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *dif__file_type_name(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file";
}

int dif__file_exists(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) == 0) return 1;
  return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* The message for a failed stat/open of path with errno e. */
static dif_status open_failure(const char *path, int e, dif__error *err) {
  struct stat sb;
  if (e == ELOOP) return dif__fail(err, DIF_ERR_IO, "%s: symbolic link loop", path);
  if (e == ENOENT && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
    return dif__fail(err, DIF_ERR_IO, "%s: dangling symbolic link", path);
  return dif__fail(err, DIF_ERR_IO, "%s: cannot open: %s", path, strerror(e));
}

dif_status dif__file_open_read(const char *path, int *fd, struct stat *st, dif__error *err) {
  if (fd) *fd = -1;
  if (!path || !fd) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path or descriptor");
  /* The type is checked before opening (opening a device can have effects of
   * its own) and again on the descriptor (the name may change in between). */
  struct stat sb;
  if (stat(path, &sb) != 0) return open_failure(path, errno, err);
  if (!S_ISREG(sb.st_mode))
    return dif__fail(err, DIF_ERR_IO, "%s is %s, not a regular file", path,
                     dif__file_type_name(sb.st_mode));
  int f;
  do f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  while (f < 0 && errno == EINTR);
  if (f < 0) return open_failure(path, errno, err);
  if (fstat(f, &sb) != 0) {
    int e = errno;
    close(f);
    return dif__fail(err, DIF_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(f);
    return dif__fail(err, DIF_ERR_IO, "%s is %s, not a regular file", path,
                     dif__file_type_name(sb.st_mode));
  }
  int flags = fcntl(f, F_GETFL);
  if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    int e = errno;
    close(f);
    return dif__fail(err, DIF_ERR_IO, "%s: cannot clear O_NONBLOCK: %s", path, strerror(e));
  }
  *fd = f;
  if (st) *st = sb;
  return DIF_OK;
}

dif_status dif__file_read_fd(int fd, const char *path, uint64_t max_bytes, uint8_t **data,
                             size_t *len, dif__error *err) {
  *data = NULL;
  *len = 0;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return dif__fail(err, DIF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes)
    return dif__fail(err, DIF_ERR_LIMIT, "'%s' is %lld bytes, more than the limit of %llu", path,
                     (long long)st.st_size, (unsigned long long)max_bytes);
  /* One buffer of the right size (+1 to see EOF without a regrow); it grows
   * if the file grows while it is read. */
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
  uint8_t *buf = malloc(cap);
  if (!buf) return dif__fail_oom(err, path, cap);
  size_t n = 0;
  for (;;) {
    if (n == cap) {
      size_t ncap = cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        return dif__fail_oom(err, path, ncap);
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      return dif__fail(err, DIF_ERR_IO, "cannot read '%s': %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
    if ((uint64_t)n > max_bytes) {
      free(buf);
      return dif__fail(err, DIF_ERR_LIMIT, "'%s' is more than the limit of %llu bytes", path,
                       (unsigned long long)max_bytes);
    }
  }
  if (n == 0) {
    free(buf);
    buf = NULL;
  }
  *data = buf;
  *len = n;
  return DIF_OK;
}

dif_status dif__file_read_all(const char *path, uint64_t max_bytes, uint8_t **data, size_t *len,
                              dif__error *err) {
  if (!data || !len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL output pointer");
  *data = NULL;
  *len = 0;
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  int fd;
  dif_status s = dif__file_open_read(path, &fd, NULL, err);
  if (s) return s;
  s = dif__file_read_fd(fd, path, max_bytes, data, len, err);
  close(fd);
  return s;
}

/* Fills the last 6 characters of name (the X's) with a name nobody is likely
 * to have used. mkstemp would create the file with mode 0600; an output image
 * should get 0666 minus the umask like any other new file, so the exclusive
 * create below is done by hand. */
static void fill_random_suffix(char *xs) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static atomic_uint_fast64_t counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
               (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)xs;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  for (int i = 0; i < 6; i++) {
    xs[i] = alphabet[z % 62];
    z /= 62;
  }
}

static dif_status write_all(int fd, const uint8_t *p, size_t len, const char *tmp,
                            dif__error *err) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return dif__fail(err, DIF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    p += w;
    len -= (size_t)w;
  }
  return DIF_OK;
}

/* fsync of the directory holding path, so the rename survives a crash.
 * Best effort: some file systems refuse to fsync directories. */
static char *parent_dir(const char *path);
static void sync_parent_dir(const char *path) {
  char *dir = parent_dir(path);
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

/* The folder part of path ("." for a bare name, "/" for "/x"), malloc'ed. */
static char *parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/* The checks of dif__file_check_output; *target gets the lstat of an existing
 * target, *exists whether there is one. */
static dif_status check_output(const char *path, struct stat *target, int *exists,
                               dif__error *err) {
  *exists = 0;
  if (!path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL path");
  if (!*path) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "empty path");
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
    return dif__fail(err, DIF_ERR_IO, "'%s' names a directory, not a file", path);
  if (lstat(path, target) == 0) {
    *exists = 1;
    if (S_ISLNK(target->st_mode))
      return dif__fail(err, DIF_ERR_IO,
                       "'%s' is a symbolic link; libdif neither writes through nor replaces links "
                       "(give the path of the file itself)",
                       path);
    if (!S_ISREG(target->st_mode))
      return dif__fail(err, DIF_ERR_IO,
                       "'%s' is %s, not a regular file; libdif only replaces regular files", path,
                       dif__file_type_name(target->st_mode));
    if (!(target->st_mode & 0222))
      return dif__fail(err, DIF_ERR_IO,
                       "'%s' is read-only (mode %04o); libdif does not replace a file without "
                       "write permission",
                       path, (unsigned)(target->st_mode & 07777));
    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0)
      return dif__fail(err, DIF_ERR_IO, "'%s' is not writable: %s", path, strerror(errno));
  } else if (errno != ENOENT) {
    return dif__fail(err, DIF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  }
  char *dir = parent_dir(path);
  if (!dir) return dif__fail_oom(err, "folder name", strlen(path));
  struct stat ds;
  dif_status st = DIF_OK;
  if (stat(dir, &ds) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot write '%s': folder '%s': %s", path, dir,
                   strerror(errno));
  else if (!S_ISDIR(ds.st_mode))
    st = dif__fail(err, DIF_ERR_IO, "cannot write '%s': '%s' is not a folder", path, dir);
  else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot write '%s': cannot create files in '%s': %s", path, dir,
                   strerror(errno));
  free(dir);
  return st;
}

dif_status dif__file_check_output(const char *path, dif__error *err) {
  struct stat sb;
  int exists;
  return check_output(path, &sb, &exists, err);
}

dif_status dif__file_write_atomic(const char *path, const void *data, size_t len, dif__error *err) {
  if (!data && len) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "NULL data");
  struct stat target;
  int exists;
  dif_status st = check_output(path, &target, &exists, err);
  if (st) return st;
  /* The temporary file: ".dif-XXXXXX.tmp" in the target's folder, a fixed
   * length whatever the target's name (a 255-byte name still works). */
  static const char pattern[] = ".dif-XXXXXX.tmp";
  const char *slash = strrchr(path, '/');
  size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
  char *tmp = malloc(dlen + sizeof pattern);
  if (!tmp) return dif__fail_oom(err, "temporary file name", dlen + sizeof pattern);
  memcpy(tmp, path, dlen);
  memcpy(tmp + dlen, pattern, sizeof pattern);

  int fd = -1;
  for (int attempt = 0; attempt < 100; attempt++) {
    fill_random_suffix(tmp + dlen + 5);
    do fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    st = dif__fail(err, DIF_ERR_IO, "cannot create a temporary file next to '%s': %s", path,
                   strerror(errno));
    free(tmp);
    return st;
  }

  st = write_all(fd, data, len, tmp, err);
  /* A replaced file keeps its permission bits, and as root its owner and
   * group (chown first: it may clear set-id bits). */
  if (st == DIF_OK && exists && geteuid() == 0 &&
      (target.st_uid != geteuid() || target.st_gid != getegid()) &&
      fchown(fd, target.st_uid, target.st_gid) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot give '%s' the owner of '%s': %s", tmp, path,
                   strerror(errno));
  if (st == DIF_OK && exists && fchmod(fd, target.st_mode & 07777) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot give '%s' the mode of '%s': %s", tmp, path,
                   strerror(errno));
  if (st == DIF_OK && fsync(fd) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot fsync '%s': %s", tmp, strerror(errno));
  if (close(fd) != 0 && st == DIF_OK)
    st = dif__fail(err, DIF_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
  /* The target may have changed while the file was written: check again
   * right before the rename (what was refused then is refused now). */
  struct stat again;
  int exists_now;
  if (st == DIF_OK) st = check_output(path, &again, &exists_now, err);
  if (st == DIF_OK && rename(tmp, path) != 0)
    st = dif__fail(err, DIF_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
  if (st != DIF_OK) {
    unlink(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  sync_parent_dir(path);
  return DIF_OK;
}
