/* core/strmap: insert, replace, lookup, growth, binary keys, clear. */
#include "core/strmap.h"
#include "test.h"

TEST(basic) {
  dif__strmap *m = NULL;
  dif__error err = {0};
  CHECK(dif__strmap_new(0, &m, &err) == DIF_OK);
  int existed = -1;
  CHECK(dif__strmap_put(m, "cat", 3, 7, &existed, &err) == DIF_OK && existed == 0);
  CHECK(dif__strmap_put(m, "", 0, 1, &existed, &err) == DIF_OK && existed == 0);
  CHECK(dif__strmap_put(m, "cat", 3, 9, &existed, &err) == DIF_OK && existed == 1);
  int32_t v = 0;
  CHECK(dif__strmap_get(m, "cat", 3, &v) && v == 9);
  CHECK(dif__strmap_get(m, "", 0, &v) && v == 1);
  CHECK(!dif__strmap_get(m, "ca", 2, &v));
  CHECK(!dif__strmap_get(m, "cats", 4, NULL));
  CHECK(dif__strmap_count(m) == 2);
  dif__strmap_clear(m);
  CHECK(dif__strmap_count(m) == 0 && !dif__strmap_get(m, "cat", 3, NULL));
  dif__strmap_free(m);
  dif__strmap_free(NULL);
}

TEST(many_binary_keys) {
  dif__strmap *m = NULL;
  dif__error err = {0};
  CHECK(dif__strmap_new(4, &m, &err) == DIF_OK);
  for (int32_t i = 0; i < 100000; i++) {
    int32_t key[2] = {i, -i}; /* contains NUL bytes */
    if (dif__strmap_put(m, key, sizeof key, i * 3, NULL, &err) != DIF_OK) {
      CHECK(0);
      break;
    }
  }
  CHECK(dif__strmap_count(m) == 100000);
  int ok = 1;
  for (int32_t i = 0; i < 100000; i++) {
    int32_t key[2] = {i, -i}, v = -1;
    ok &= dif__strmap_get(m, key, sizeof key, &v) && v == i * 3;
    int32_t miss[2] = {i, i + 1};
    ok &= !dif__strmap_get(m, miss, sizeof miss, NULL);
  }
  CHECK(ok);
  dif__strmap_free(m);
}

int main(void) {
  RUN(basic);
  RUN(many_binary_keys);
  return dif__test_finish();
}
