/* blas.h — facts about the BLAS library libdif runs on. */
#ifndef DIF_CORE_BLAS_H
#define DIF_CORE_BLAS_H

/* OpenBLAS's name for the kernel set in use ("SkylakeX", "Prescott", ...). */
const char *dif_blas_corename(void);
/* Sets the number of threads BLAS may use for one call. */
void dif_blas_set_threads(int n);

#endif
