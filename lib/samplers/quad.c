/* quad.c — QUADPACK-style adaptive Gauss–Kronrod quadrature (see quad.h).
 * The node and weight values are the classical 21-point Kronrod extension
 * of the 10-point Gauss–Legendre rule, as tabulated in QUADPACK. */
#include "samplers/quad.h"

#include <float.h>
#include <math.h>

#define LIMIT 50
#define EPSABS 1.49e-8

static const double xgk[11] = {
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
    0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
    0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
    0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
    0.000000000000000000000000000000000};
static const double wgk[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077208980223133, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821};
static const double wg[5] = {
    0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
    0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
    0.295524224714752870173892994651338};

/* dqk21: result, abserr, resabs (integral of |f|), resasc (of |f - mean|). */
static double qk21(dif__quad_fn f, void *u, double a, double b, double *abserr, double *resabs,
                   double *resasc) {
  const double epmach = DBL_EPSILON, uflow = DBL_MIN;
  const double centr = 0.5 * (a + b), hlgth = 0.5 * (b - a), dhlgth = fabs(hlgth);
  double fv1[10], fv2[10];
  double resg = 0.0;
  const double fc = f(centr, u);
  double resk = wgk[10] * fc;
  double rabs = fabs(resk);
  for (int j = 1; j <= 5; j++) { /* Gauss nodes: xgk(2j) in Fortran numbering */
    const int jtw = 2 * j - 1;
    const double absc = hlgth * xgk[jtw];
    const double f1 = f(centr - absc, u), f2 = f(centr + absc, u);
    fv1[jtw] = f1;
    fv2[jtw] = f2;
    const double fsum = f1 + f2;
    resg = resg + wg[j - 1] * fsum;
    resk = resk + wgk[jtw] * fsum;
    rabs = rabs + wgk[jtw] * (fabs(f1) + fabs(f2));
  }
  for (int j = 1; j <= 5; j++) { /* Kronrod-only nodes: xgk(2j - 1) */
    const int jtwm1 = 2 * j - 2;
    const double absc = hlgth * xgk[jtwm1];
    const double f1 = f(centr - absc, u), f2 = f(centr + absc, u);
    fv1[jtwm1] = f1;
    fv2[jtwm1] = f2;
    const double fsum = f1 + f2;
    resk = resk + wgk[jtwm1] * fsum;
    rabs = rabs + wgk[jtwm1] * (fabs(f1) + fabs(f2));
  }
  const double reskh = resk * 0.5;
  double rasc = wgk[10] * fabs(fc - reskh);
  for (int j = 0; j < 10; j++) rasc = rasc + wgk[j] * (fabs(fv1[j] - reskh) + fabs(fv2[j] - reskh));
  const double result = resk * hlgth;
  rabs = rabs * dhlgth;
  rasc = rasc * dhlgth;
  double err = fabs((resk - resg) * hlgth);
  if (rasc != 0.0 && err != 0.0) {
    double r = pow(200.0 * err / rasc, 1.5);
    err = rasc * (r < 1.0 ? r : 1.0);
  }
  if (rabs > uflow / (50.0 * epmach)) {
    double m = (epmach * 50.0) * rabs;
    err = m > err ? m : err;
  }
  *abserr = err;
  *resabs = rabs;
  *resasc = rasc;
  return result;
}

double dif__quad(dif__quad_fn f, void *u, double a, double b, double epsrel, double *abserr_out) {
  double abserr, defabs, resasc;
  double result = qk21(f, u, a, b, &abserr, &defabs, &resasc);
  double errbnd = fmax(EPSABS, epsrel * fabs(result));
  if (abserr_out) *abserr_out = abserr;
  if ((abserr <= errbnd && abserr != resasc) || abserr == 0.0) return result;
  if (abserr <= 100.0 * DBL_EPSILON * defabs) return result; /* roundoff: ier 2 */

  /* Bisect the interval with the largest error until the summed error is
   * within the bound (dqagse's main loop, without extrapolation). */
  double al[LIMIT], bl[LIMIT], rl[LIMIT], el[LIMIT];
  int last = 1;
  al[0] = a;
  bl[0] = b;
  rl[0] = result;
  el[0] = abserr;
  double area = result, errsum = abserr;
  while (last < LIMIT) {
    int m = 0;
    for (int k = 1; k < last; k++)
      if (el[k] > el[m]) m = k;
    const double a1 = al[m], b1 = 0.5 * (al[m] + bl[m]), a2 = b1, b2 = bl[m];
    double e1, e2, r1, r2, d1, d2;
    const double area1 = qk21(f, u, a1, b1, &e1, &r1, &d1);
    const double area2 = qk21(f, u, a2, b2, &e2, &r2, &d2);
    errsum = errsum + (e1 + e2) - el[m];
    area = area + (area1 + area2) - rl[m];
    bl[m] = b1;
    rl[m] = area1;
    el[m] = e1;
    al[last] = a2;
    bl[last] = b2;
    rl[last] = area2;
    el[last] = e2;
    last++;
    errbnd = fmax(EPSABS, epsrel * fabs(area));
    if (errsum <= errbnd) break;
  }
  result = 0.0;
  for (int k = 0; k < last; k++) result = result + rl[k];
  if (abserr_out) *abserr_out = errsum;
  return result;
}
