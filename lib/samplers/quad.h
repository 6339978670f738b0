/* quad.h — adaptive Gauss–Kronrod integration as scipy.integrate.quad does it
 * for a finite interval (QUADPACK dqagse: 21-point Gauss–Kronrod rule,
 * QUADPACK's error estimate, bisection of the interval with the largest
 * error until the requested accuracy is met).
 *
 * The first 21-point evaluation reproduces dqk21 operation for operation, so
 * when it already meets the tolerance — always, for the low-degree
 * polynomials LMS integrates — the result is the bit-identical double scipy
 * returns. Later subdivisions follow dqagse without its epsilon-algorithm
 * extrapolation (only needed for singular integrands).
 */
#ifndef DIF__SAMPLERS_QUAD_H
#define DIF__SAMPLERS_QUAD_H

typedef double (*dif__quad_fn)(double x, void *user);

/* Integral of f over [a, b] (b < a allowed) with scipy's defaults
 * epsabs = 1.49e-8, limit = 50 and the given epsrel. *abserr (optional)
 * receives the error estimate. */
double dif__quad(dif__quad_fn f, void *user, double a, double b, double epsrel, double *abserr);

#endif
