/* Prompt-part blending (pipelines/embeds.h): one test per documented rule. */
#include <math.h>

#include "pipelines/embeds.h"
#include "test.h"

static double norm(const float *x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

static double cosine(const float *a, const float *b, int n) {
  double d = 0;
  for (int i = 0; i < n; i++) d += (double)a[i] * b[i];
  return d / (norm(a, n) * norm(b, n));
}

TEST(single_part_is_identity) {
  /* a plain prompt must reproduce diffusers bit for bit: any positive weight */
  float e[5] = {0.3f, -1.25f, 2.0f, 0.0f, 7.5f}, out[5], w = 3.0f;
  for (int rule = 0; rule < 2; rule++) {
    dif__error err = {0};
    CHECK(dif__embeds_combine((dif__blend_rule)rule, e, &w, 1, 5, out, &err) == DIF_OK);
    CHECK(memcmp(e, out, sizeof e) == 0);
  }
}

TEST(sum_is_weighted_direction_with_mean_norm) {
  /* e = s/|s| · Σ w_i|e_i| / W, s = Σ w_i e_i */
  float parts[2][3] = {{3, 0, 0}, {0, 4, 0}}, w[2] = {1, 3}, out[3];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SUM, &parts[0][0], w, 2, 3, out, &err) == DIF_OK);
  double s0 = 3, s1 = 12, ns = sqrt(s0 * s0 + s1 * s1), mean = (1 * 3 + 3 * 4) / 4.0;
  CHECK(fabs(out[0] - s0 / ns * mean) < 1e-6);
  CHECK(fabs(out[1] - s1 / ns * mean) < 1e-6);
  CHECK(out[2] == 0);
  CHECK(fabs(norm(out, 3) - mean) < 1e-5);
}

TEST(sum_equal_parts_keep_the_part) {
  float parts[3][4] = {{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}, w[3] = {0.5f, 2, 1}, out[4];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SUM, &parts[0][0], w, 3, 4, out, &err) == DIF_OK);
  for (int i = 0; i < 4; i++) CHECK(fabs(out[i] - parts[0][i]) < 1e-5);
}

TEST(negative_weight_pushes_away) {
  /* a::2 b::-0.5: the result moves away from b */
  float parts[2][2] = {{1, 0}, {0.6f, 0.8f}}, w[2] = {2.0f, -0.5f}, out[2];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SUM, &parts[0][0], w, 2, 2, out, &err) == DIF_OK);
  CHECK(cosine(out, parts[1], 2) < cosine(parts[0], parts[1], 2));
}

TEST(weights_must_sum_positive) {
  float parts[2][2] = {{1, 0}, {0, 1}}, w[2] = {1, -1}, out[2];
  dif__error err = {0};
  CHECK_STATUS(dif__embeds_combine(DIF__BLEND_RULE_SUM, &parts[0][0], w, 2, 2, out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "sum to");
  float w2[2] = {1, NAN};
  CHECK_STATUS(dif__embeds_combine(DIF__BLEND_RULE_SLERP, &parts[0][0], w2, 2, 2, out, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "weight");
}

TEST(slerp_halfway_is_on_the_great_circle) {
  /* equal weights, orthogonal unit vectors: 45 degrees, norm interpolated */
  float parts[2][2] = {{2, 0}, {0, 4}}, w[2] = {1, 1}, out[2];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SLERP, &parts[0][0], w, 2, 2, out, &err) == DIF_OK);
  CHECK(fabs(norm(out, 2) - 3.0) < 1e-5); /* (2 + 4) / 2 */
  CHECK(fabs(atan2(out[1], out[0]) - M_PI / 4) < 1e-5);
}

TEST(slerp_fraction_follows_weights) {
  /* w = (1, 3): t = 3/4 of the way: 67.5 degrees */
  float parts[2][2] = {{1, 0}, {0, 1}}, w[2] = {1, 3}, out[2];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SLERP, &parts[0][0], w, 2, 2, out, &err) == DIF_OK);
  CHECK(fabs(atan2(out[1], out[0]) - 0.75 * M_PI / 2) < 1e-5);
}

TEST(slerp_three_parts_fold_with_running_weight) {
  /* three equal weights on 0, 90 and 180 degrees... use 0, 60, 120 in a plane:
   * fold: slerp(e1, e2, 1/2) = 30 deg, then slerp(., e3, 1/3): 30 + 90/3 = 60 */
  float parts[3][2] = {{1, 0}, {0.5f, (float)(sqrt(3) / 2)}, {-0.5f, (float)(sqrt(3) / 2)}};
  float w[3] = {1, 1, 1}, out[2];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SLERP, &parts[0][0], w, 3, 2, out, &err) == DIF_OK);
  CHECK(fabs(atan2(out[1], out[0]) - M_PI / 3) < 1e-5);
  CHECK(fabs(norm(out, 2) - 1.0) < 1e-5);
}

TEST(slerp_negative_weight_extrapolates) {
  float parts[2][2] = {{1, 0}, {0, 1}}, w[2] = {2, -0.5f}, out[2];
  dif__error err = {0};
  CHECK(dif__embeds_combine(DIF__BLEND_RULE_SLERP, &parts[0][0], w, 2, 2, out, &err) == DIF_OK);
  /* t = -0.5 / 1.5 = -1/3: a third of 90 degrees on the far side of e1 */
  CHECK(fabs(atan2(out[1], out[0]) + M_PI / 6) < 1e-5);
}

int main(void) {
  RUN(single_part_is_identity);
  RUN(sum_is_weighted_direction_with_mean_norm);
  RUN(sum_equal_parts_keep_the_part);
  RUN(negative_weight_pushes_away);
  RUN(weights_must_sum_positive);
  RUN(slerp_halfway_is_on_the_great_circle);
  RUN(slerp_fraction_follows_weights);
  RUN(slerp_three_parts_fold_with_running_weight);
  RUN(slerp_negative_weight_extrapolates);
  return dif__test_finish();
}
