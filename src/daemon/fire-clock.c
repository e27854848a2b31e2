/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <glib.h>

#include "fire-clock.h"

HostClock host_clock_from_timex(int state, const struct timex *tx) {
        /* chrony and ntpd clear STA_UNSYNC once they steer the clock, and
         * set the estimated error; phc2sys clears it too. The kernel sets it
         * again (and the errors to 16 s) when nobody has for a while. */
        return (HostClock) {
                .synchronized = state != TIME_ERROR && !(tx->status & STA_UNSYNC),
                .error_usec = tx->esterror > 0 ? (uint64_t) tx->esterror : 0,
        };
}

int host_clock_read(HostClock *ret) {
        struct timex tx = { .modes = 0 }; /* read only */
        int state = adjtimex(&tx);
        if (state < 0) {
                int r = negative_errno();
                *ret = (HostClock) { .synchronized = false };
                return r;
        }
        *ret = host_clock_from_timex(state, &tx);
        return 0;
}

char *host_clock_note(const HostClock *c) {
        if (c->synchronized)
                return NULL;
        return g_strdup_printf("clock not synchronised (estimated error %" PRIu64 " ms)", c->error_usec / USEC_PER_MSEC);
}

FireAtVerdict fire_at_check(nsec_t t, nsec_t now, char **ret_why) {
        double ahead_ms = (double) (t - now) / 1e6;

        *ret_why = NULL;
        if (t <= now) {
                *ret_why = g_strdup_printf("The instant has passed: it was %.1f ms ago.", (double) (now - t) / 1e6);
                return FIRE_AT_TOO_LATE;
        }
        if (t - now < (nsec_t) FIRE_AT_MIN_LEAD_USEC * NSEC_PER_USEC) {
                double need_ms = (double) FIRE_AT_MIN_LEAD_USEC / 1e3;
                *ret_why = g_strdup_printf("The instant is %.1f ms away; arming the cameras needs %.0f ms: "
                                           "%.1f ms too late.",
                                           ahead_ms, need_ms, need_ms - ahead_ms);
                return FIRE_AT_TOO_LATE;
        }
        if (t - now > (nsec_t) FIRE_AT_MAX_AHEAD_USEC * NSEC_PER_USEC) {
                *ret_why = g_strdup_printf("The instant is %.1f s ahead; FireAt accepts at most %.0f s.", ahead_ms / 1e3,
                                           (double) FIRE_AT_MAX_AHEAD_USEC / USEC_PER_SEC);
                return FIRE_AT_TOO_FAR;
        }
        return FIRE_AT_OK;
}
