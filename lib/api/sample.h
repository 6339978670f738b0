/* sample.h — what other api files may do to a dif_sample. */
#ifndef DIF_API_SAMPLE_H
#define DIF_API_SAMPLE_H

#include "dif.h"

/* Records a failure as the sample's last error and returns st. */
dif_status dif_sample_fail(dif_sample *s, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
