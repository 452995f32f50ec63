/* kt_time.h - the two clocks: wall time for what is recorded (run times,
 * timestamps), the monotonic clock for durations and deadlines. */
#ifndef KT_TIME_H
#define KT_TIME_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t kt_time_now_ms(void);
/* Nanoseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t kt_time_mono_ns(void);

#endif
