/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* FireAt (SPEC §4): every camera fired at a CLOCK_REALTIME instant, so that
 * several hosts whose clocks are kept together fire together.
 *
 * The loop checks the instant, arms the parked cameras (they wait at the
 * barrier, as for Fire) and hands over to a coordinator thread, then goes
 * on with its work: nothing waits for the instant on the loop. The
 * coordinator
 * - sleeps until FIRE_AT_RELEASE_LEAD_USEC before the instant, arming any
 *   camera that was busy with its idle check meanwhile;
 * - corks the PTP/IP command sockets and releases the camera threads: each
 *   writes its capture command into its corked socket (a camera without one
 *   sleeps until the instant itself, in camera_worker_fire());
 * - sleeps until the instant (clock_nanosleep, TIMER_ABSTIME, SCHED_FIFO
 *   when allowed, 1 ns timer slack) and uncorks the sockets back to back:
 *   the uncork is the departure of the commands;
 * - tells the loop, which opens the shot at the instant and collects the
 *   answers as for Fire.
 * Why it sleeps to the instant instead of spinning the last microseconds:
 * bench/bench-fire-at.py measured both (README, Benchmarks). Spinning
 * 60–500 µs brought the commands ~50 µs closer to the instant, but narrowed
 * neither the spread between cameras nor its tail (on the test VM the
 * hypervisor's: a lone SCHED_FIFO thread there wakes up to 4 ms late now
 * and then), and it holds a CPU at real-time priority that the camera
 * threads, or another daemon, may need.
 *
 * A clock step while waiting: both waits are absolute on CLOCK_REALTIME
 * (a futex for the long one, clock_nanosleep for the last), so they follow
 * it and the cameras fire when the clock reads the instant. */

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>

#include "camera-internal.h"
#include "fire-clock.h"
#include "log.h"

#define SETTLE_STEP_USEC (1 * USEC_PER_MSEC)     /* a camera busy checking: try again */
#define BARRIER_MARGIN_USEC (2 * USEC_PER_MSEC)  /* stop arming this long before the release */
#define GATHER_STOP_USEC (300)                   /* stop polling the sockets this long before the instant */

struct FireAt {
        CameraManager *cm;
        uint32_t seq;
        nsec_t t;
        usec_t timeout;
        char *root;
        size_t n;
        CameraWorker **workers; /* the table when called; the Fire keeps them alive */
        bool *armed, *corked;
        unsigned *loaded;
        int64_t *uncorked_ns;
        size_t n_settling;

        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond; /* CLOCK_REALTIME */
        bool cancel;         /* lock */

        /* Written by the coordinator before `finished`: */
        bool released;
        usec_t released_usec; /* CLOCK_MONOTONIC */
        size_t n_corked;
        bool late_at_barrier;
        atomic_bool finished;
};

void camera_fire_at_free(FireAt *at) {
        if (!at)
                return;
        /* Joined by whoever took it in; never freed while it runs. */
        pthread_mutex_destroy(&at->lock);
        pthread_cond_destroy(&at->cond);
        g_free(at->root);
        g_free(at->workers);
        g_free(at->armed);
        g_free(at->corked);
        g_free(at->loaded);
        g_free(at->uncorked_ns);
        g_free(at);
}

/* Sleeps until the CLOCK_REALTIME instant `until` unless called off first;
 * returns false when called off. */
static bool wait_until(FireAt *at, nsec_t until) {
        struct timespec ts = { .tv_sec = (time_t) (until / NSEC_PER_SEC), .tv_nsec = (long) (until % NSEC_PER_SEC) };
        bool cancel;

        pthread_mutex_lock(&at->lock);
        while (!at->cancel && pthread_cond_timedwait(&at->cond, &at->lock, &ts) != ETIMEDOUT)
                ;
        cancel = at->cancel;
        pthread_mutex_unlock(&at->lock);
        return !cancel;
}

static void finish(FireAt *at) {
        atomic_store_explicit(&at->finished, true, memory_order_release);
        camera_manager_notify(at->cm);
}

static void *coordinator_main(void *p) {
        FireAt *at = p;
        CameraManager *cm = at->cm;
        nsec_t release_at = at->t - (nsec_t) FIRE_AT_RELEASE_LEAD_USEC * NSEC_PER_USEC;

        /* clock_nanosleep() would otherwise wake up to 50 µs late. */
        (void) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

        /* Cameras that were busy with their idle check (a few ms every
         * 2 s) when FireAt came are armed as they finish. */
        while (at->n_settling > 0) {
                nsec_t next = now_realtime() + (nsec_t) SETTLE_STEP_USEC * NSEC_PER_USEC;
                if (next > release_at - (nsec_t) BARRIER_MARGIN_USEC * NSEC_PER_USEC)
                        break;
                if (!wait_until(at, next))
                        break;
                (void) camera_arm(at->workers, at->n, at->seq, at->timeout, at->root, at->t, false, at->armed,
                                  &at->n_settling);
        }

        if (!wait_until(at, release_at)) {
                /* The armed threads go back to parking without firing. */
                atomic_store_explicit(&cm->cancelled, at->seq, memory_order_relaxed);
                camera_barrier_release(cm, at->seq);
                finish(at);
                return NULL;
        }

        /* They had at least ~10 ms; one that is not there yet passes
         * through late, and says how late. */
        at->late_at_barrier = !camera_wait_at_barrier(at->workers, at->n, at->seq, at->armed,
                                                      FIRE_AT_RELEASE_LEAD_USEC / 2);
        at->n_corked = camera_cork(at->workers, at->n, at->armed, at->corked);
        atomic_store_explicit(&cm->fire_time, at->t, memory_order_relaxed);
        camera_barrier_release(cm, at->seq);
        at->released_usec = (usec_t) (atomic_load(&cm->released_ns) / 1000);

        if (at->n_corked > 0) {
                /* Until every command waits in its socket, or just before
                 * the instant: a late one goes when it is written. */
                nsec_t ahead = at->t - (nsec_t) GATHER_STOP_USEC * NSEC_PER_USEC - now_realtime();
                camera_gather(at->workers, at->n, at->corked, at->loaded,
                              now_monotonic() + (ahead > 0 ? (usec_t) (ahead / NSEC_PER_USEC) : 0));

                CameraSched saved;
                camera_rt_enter(cm, 2, &saved);
                camera_sleep_until(at->t);
                camera_uncork(at->workers, at->n, at->corked, at->loaded, at->uncorked_ns);
                camera_rt_leave(&saved);
        } else
                /* The cameras' own threads wait for the instant; the shot
                 * opens then too. */
                camera_sleep_until(at->t);
        at->released = true;
        finish(at);
        return NULL;
}

int manager_cameras_fire_at(Manager *m, nsec_t t, const char *note, FireDoneFn done, void *userdata) {
        CameraManager *cm = m->cameras;
        int r;

        if (!cm || cm->stopping || cm->workers->len == 0)
                return -ENODEV;
        if (cm->fire)
                return -EBUSY;

        size_t n = cm->workers->len;
        FireAt *at = g_new0(FireAt, 1);
        at->cm = cm;
        at->seq = ++cm->seq ?: ++cm->seq;
        at->t = t;
        at->timeout = (usec_t) (m->config->capture_timeout_sec * USEC_PER_SEC);
        at->root = m->config->download ? g_strdup(m->config->download_root) : NULL;
        at->n = n;
        /* The Fire below takes the table in the same order, and keeps every
         * camera of it alive (in_fire) until it is done. */
        at->workers = g_memdup2(cm->workers->pdata, n * sizeof(CameraWorker *));
        at->armed = g_new0(bool, n);
        at->corked = g_new0(bool, n);
        at->loaded = g_new0(unsigned, n);
        at->uncorked_ns = g_new0(int64_t, n);
        pthread_mutex_init(&at->lock, NULL);
        pthread_cond_init(&at->cond, NULL); /* CLOCK_REALTIME, absolute: follows clock steps */

        size_t n_armed = camera_arm(at->workers, n, at->seq, at->timeout, at->root, t, true, at->armed,
                                    &at->n_settling);
        if (n_armed == 0 && at->n_settling == 0) {
                camera_fire_at_free(at);
                return -ENODEV;
        }

        /* Signals belong to the event loop thread. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&at->thread, NULL, coordinator_main, at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                /* The armed threads go back to parking without firing. */
                atomic_store_explicit(&cm->cancelled, at->seq, memory_order_relaxed);
                camera_barrier_release(cm, at->seq);
                camera_fire_at_free(at);
                return log_error_errno(r, "FireAt: cannot start its thread: %m");
        }
        at->started = true;
        (void) pthread_setname_np(at->thread, "fire-at");

        Fire *f = camera_fire_new(cm, at->seq, done, userdata);
        f->is_at = true;
        f->t = t;
        f->note = g_strdup(note);
        f->at = at;
        cm->fire = f;

        char when[ISO8601_MAX];
        log_debug("FireAt %s: %zu of %zu camera%s armed%s.", format_iso8601(t, when) ?: "?", n_armed, n,
                  n == 1 ? "" : "s", at->n_settling > 0 ? ", others finishing a check" : "");
        return 0;
}

bool camera_fire_at_cancel(Fire *f) {
        FireAt *at = f->at;

        pthread_mutex_lock(&at->lock);
        at->cancel = true;
        pthread_cond_signal(&at->cond);
        pthread_mutex_unlock(&at->lock);
        if (at->started) {
                pthread_join(at->thread, NULL);
                at->started = false;
        }
        return at->released;
}

bool camera_fire_at_take(CameraManager *cm, Fire *f) {
        FireAt *at = f->at;
        Manager *m = cm->manager;

        if (!atomic_load_explicit(&at->finished, memory_order_acquire))
                return false;
        if (at->started) {
                pthread_join(at->thread, NULL);
                at->started = false;
        }
        assert(at->released);

        size_t n_armed = 0;
        f->uncorked_ns = g_new0(int64_t, f->n);
        for (size_t i = 0; i < f->n; i++) {
                n_armed += at->armed[i];
                if (at->corked[i] && at->loaded[i])
                        f->uncorked_ns[i] = at->uncorked_ns[i];
        }
        if (at->late_at_barrier)
                log_warning("FireAt: a camera thread did not reach the barrier in time; it fired late.");

        /* The shot opens at the instant, now that the commands left: its
         * timeout runs from here, not from the call. */
        if (n_armed > 0) {
                Shot *shot = NULL;
                int r = manager_fire_shot(m, f->t, &shot);
                if (r < 0)
                        log_error_errno(r, "FireAt: cannot open a shot: %m");
                else
                        g_strlcpy(f->shot_id, shot->id, sizeof f->shot_id);
        }
        g_autofree bool *armed = TAKE_PTR(at->armed);
        usec_t released = at->released_usec;
        size_t n_corked = at->n_corked;
        camera_fire_at_free(TAKE_PTR(f->at));

        camera_fire_started(cm, f, armed, released);
        log_fields(LOG_DEBUG, 0, f->shot_id[0] ? f->shot_id : NULL, NULL, NULL,
                   "FireAt %s: %zu of %zu camera%s released (%zu corked).", f->shot_id[0] ? f->shot_id : "(no shot)",
                   n_armed, f->n, f->n == 1 ? "" : "s", n_corked);
        if (n_armed == 0)
                camera_fire_finish(cm, "not fired");
        return true;
}
