/* kinds.c — the case kinds dif-golden knows. Add one line per kind. */
#include "kinds.h"

const golden_kind golden_kinds[] = {
    {"image_normalizer", golden_kind_image_normalizer},
    {"rng", golden_kind_rng},
    {"schedulers", golden_kind_schedulers},
    {NULL, NULL},
};
