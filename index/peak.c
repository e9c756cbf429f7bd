/* The physical limit of this CPU, per core (index.bench's cpu_peak compiles and runs it):
 * the clock (a chain of dependent integer adds, one per cycle) and the throughput of 512-bit
 * VFMADD231PS (fp32), VDPBF16PS (bf16 pairs -> fp32) and VPDPBUSD (u8 x s8 quads -> int32), each with
 * 12 independent accumulator chains so latency does not limit them. Times are thread CPU time, so
 * other processes on a shared machine do not count. Prints one JSON line. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ITERS 20000000L
#define ADD "add $1, %0\n\t"

static double adds(void) {
  uint64_t x = 0;
  double t = cpu_s();
  for (long i = 0; i < ITERS; i++) {
    __asm__ volatile(ADD ADD ADD ADD ADD ADD ADD ADD : "+r"(x));
  }
  t = cpu_s() - t;
  return ITERS * 8.0 / t; /* dependent adds per second = cycles per second */
}

#define ONE(op, n) op " %%zmm14, %%zmm15, %%zmm" #n "\n\t"
#define BODY(op)                                                                            \
  __asm__ volatile(ONE(op, 0) ONE(op, 1) ONE(op, 2) ONE(op, 3) ONE(op, 4) ONE(op, 5)       \
                       ONE(op, 6) ONE(op, 7) ONE(op, 8) ONE(op, 9) ONE(op, 10) ONE(op, 11) \
                   ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",      \
                       "xmm8", "xmm9", "xmm10", "xmm11")

static double rate(int which) {
  __asm__ volatile("vpxord %%zmm14, %%zmm14, %%zmm14\n\t"
                   "vpxord %%zmm15, %%zmm15, %%zmm15" ::: "xmm14", "xmm15");
  double t = cpu_s();
  for (long i = 0; i < ITERS / 4; i++) {
    if (which == 0)
      BODY("vfmadd231ps");
    else if (which == 1)
      BODY("vdpbf16ps");
    else
      BODY("vpdpbusd");
  }
  t = cpu_s() - t;
  return (ITERS / 4) * 12.0 / t; /* instructions per second */
}

int main(void) {
  double f = 0, r[3] = {0, 0, 0};
  for (int k = 0; k < 7; k++) { /* best of 7: a descheduled slice only makes a round slower */
    double a = adds();
    if (a > f) f = a;
    for (int w = 0; w < 3; w++) {
      double x = rate(w);
      if (x > r[w]) r[w] = x;
    }
  }
  const char *name[3] = {"fp32 vfmadd231ps", "bf16 vdpbf16ps", "int8 vpdpbusd"};
  /* FLOPs per 512-bit instruction: 16 lanes x (1, 2, 4) products x 2 (multiply + add) */
  const double flops[3] = {32, 64, 128};
  printf("{\"ghz\": %.3f", f / 1e9);
  for (int w = 0; w < 3; w++)
    printf(", \"%s\": {\"per_cycle\": %.2f, \"gflops_per_core\": %.1f}", name[w], r[w] / f,
           r[w] * flops[w] / 1e9);
  printf("}\n");
  return 0;
}
