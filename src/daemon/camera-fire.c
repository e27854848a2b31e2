/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Fire (SPEC §4). In the event loop: arm the parked workers, wait until
 * every one of them sits at the barrier, take the fire instant and open the
 * shot, release them together, then collect their answers — or give up on
 * the late ones at the deadline; done() is called exactly once, from the
 * loop. In each camera's thread: wait at the barrier, send the capture
 * command, wait for the image to its own deadline, download it. FireAt
 * (camera-fire-at.c) releases the same way from a thread of its own, at an
 * instant, and hands over to the same collection.
 *
 * What keeps the capture commands together (bench/bench-fire.py measures
 * it; figures in the closing note of the Fire issue):
 * - the workers sleep on one futex word and are woken by one FUTEX_WAKE;
 * - they run SCHED_FIFO from the barrier to the capture command's answer
 *   when the service may (LimitRTPRIO=, no RestrictRealtime=), so nothing
 *   else on the machine runs in between;
 * - PTP/IP cameras' sockets are corked (TCP_CORK) before the release: each
 *   worker's command waits in its socket, and once every one is there the
 *   loop uncorks them back to back. libgphoto2 spends tens of µs around
 *   each request (event poll, response wait) that would otherwise separate
 *   the cameras; the kernel's 200 ms cork ceiling is the failsafe. */

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "camera-internal.h"
#include "log.h"

#define FIRE_MARGIN_USEC (200 * 1000)  /* workers give up on their own first */
#define SETTLE_USEC (50 * 1000)        /* a camera finishing a check joins the Fire */
#define BARRIER_WAIT_USEC (200 * 1000) /* every armed worker at the barrier */
#define GATHER_USEC (20 * 1000)        /* every corked command queued */
#define FILES_QUIET_USEC (300 * 1000)  /* more files of one capture (RAW+JPEG) */
#define WAIT_SLICE_MSEC 100

static int64_t now_mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void fire_free(Fire *f) {
        if (!f)
                return;
        sd_event_source_disable_unref(f->timer);
        if (f->results)
                fire_results_free(f->results, f->n);
        camera_fire_at_free(f->at);
        g_free(f->workers);
        g_free(f->answered);
        g_free(f->uncorked_ns);
        g_free(f->note);
        g_free(f);
}

void fire_results_free(FireResult *r, size_t n) {
        for (size_t i = 0; r && i < n; i++)
                fire_result_clear(&r[i]);
        g_free(r);
}

/* One line per Fire, with every camera's result: its latency, and for a
 * FireAt how far from the instant its command left. */
static void fire_log(Fire *f) {
        GString *s = g_string_new(NULL);
        size_t ok = 0;
        for (size_t i = 0; i < f->n; i++) {
                FireResult *r = &f->results[i];
                bool good = streq(r->status, "ok");
                ok += good;
                g_string_append_printf(s, "%s%s %s", i ? "; " : "", r->camera, r->status);
                if (f->is_at && r->departure_usec > 0)
                        g_string_append_printf(s, ", left %+" PRIi64 " µs from the instant",
                                               (int64_t) r->departure_usec - f->t / NSEC_PER_USEC);
                if (f->answered[i])
                        g_string_append_printf(s, "%s%" PRIu64 " µs", f->is_at ? ", answered in " : " ",
                                               r->latency_usec);
                if (!good && !isempty(r->message))
                        g_string_append_printf(s, " (%s)", r->message);
        }
        log_fields(ok == f->n ? LOG_INFO : LOG_WARNING, 0, f->shot_id[0] ? f->shot_id : NULL, NULL, NULL,
                   "%s %s: %zu of %zu camera%s ok: %s.", f->is_at ? "FireAt" : "Fire",
                   f->shot_id[0] ? f->shot_id : "(no shot)", ok, f->n, f->n == 1 ? "" : "s", s->str);
        g_string_free(s, true);
}

/* Takes the answers the workers left in their slots. */
static void fire_collect(CameraManager *cm) {
        Fire *f = cm->fire;
        for (size_t i = 0; f && i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                if (!w || f->answered[i])
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->result_seq == f->seq) {
                        fire_result_clear(&f->results[i]);
                        f->results[i] = w->result;
                        w->result = (FireResult) {};
                        w->result_seq = 0;
                        f->answered[i] = true;
                        f->n_pending--;
                }
                pthread_mutex_unlock(&w->lock);

                /* A command that waited in its corked socket left at the
                 * uncork, not when its thread wrote it. */
                FireResult *r = &f->results[i];
                if (f->answered[i] && f->uncorked_ns && f->uncorked_ns[i] > 0 && r->departure_usec > 0) {
                        uint64_t uncorked = (uint64_t) f->uncorked_ns[i] / NSEC_PER_USEC;
                        uint64_t answered = r->departure_usec + r->latency_usec;
                        r->departure_usec = uncorked;
                        r->latency_usec = answered > uncorked ? answered - uncorked : 0;
                }
        }
}

void camera_fire_finish(CameraManager *cm, const char *why) {
        Fire *f = TAKE_PTR(cm->fire);

        for (size_t i = 0; i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                FireResult *r = &f->results[i];
                if (w) {
                        w->in_fire = false;
                        if (!f->answered[i]) {
                                g_free(r->message);
                                r->message = g_strdup(why);
                                pthread_mutex_lock(&w->lock);
                                if (w->fire_seq == f->seq && w->phase == PHASE_ARMED) {
                                        /* Still inside libgphoto2: not ready until it
                                         * comes back; cut its link so that it does so now. */
                                        w->overdue = true;
                                        camera_worker_abort_io(w);
                                }
                                pthread_mutex_unlock(&w->lock);
                        }
                }
                if (f->note) {
                        char *m = isempty(r->message) ? g_strdup(f->note) : g_strdup_printf("%s; %s", r->message, f->note);
                        g_free(r->message);
                        r->message = m;
                }
        }
        fire_log(f);
        f->done(cm->manager, f->shot_id, f->results, f->n, f->userdata);
        fire_free(f);
        camera_manager_reap(cm);
}

static int on_fire_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        CameraManager *cm = userdata;
        if (!cm->fire || cm->fire->at)
                return 0;
        fire_collect(cm);
        g_autofree char *why = g_strdup_printf("timeout: no answer within %.3g s", cm->fire->timeout_sec);
        camera_fire_finish(cm, why);
        return 0;
}

void camera_fire_notify(CameraManager *cm) {
        if (!cm->fire)
                return;
        if (cm->fire->at && !camera_fire_at_take(cm, cm->fire))
                return;
        if (!cm->fire) /* nothing was fired */
                return;
        fire_collect(cm);
        if (cm->fire->n_pending == 0)
                camera_fire_finish(cm, "no answer");
}

void camera_fire_abort(CameraManager *cm, const char *why) {
        if (!cm->fire)
                return;
        if (cm->fire->at) {
                if (!camera_fire_at_cancel(cm->fire)) {
                        Fire *f = TAKE_PTR(cm->fire);
                        camera_fire_not_fired(cm, f, "not fired: called off before the instant");
                        return;
                }
                if (!camera_fire_at_take(cm, cm->fire) || !cm->fire)
                        return;
        }
        fire_collect(cm);
        camera_fire_finish(cm, why);
}

static char *not_fired_reason(CameraWorker *w) {
        char *s;
        pthread_mutex_lock(&w->lock);
        if (w->phase == PHASE_ARMED)
                s = g_strdup(w->overdue ? "not fired: still stuck in the previous capture"
                                        : "not fired: busy with the previous capture");
        else if (w->open)
                s = g_strdup("not fired: busy checking the camera");
        else
                s = g_strdup_printf("not fired: %s", w->state ?: "not connected");
        pthread_mutex_unlock(&w->lock);
        return s;
}

Fire *camera_fire_new(CameraManager *cm, uint32_t seq, FireDoneFn done, void *userdata) {
        Manager *m = cm->manager;
        size_t n = cm->workers->len;
        Fire *f = g_new0(Fire, 1);

        f->seq = seq;
        f->timeout_sec = m->config->capture_timeout_sec;
        f->n = n;
        f->workers = g_new0(CameraWorker *, n);
        f->results = g_new0(FireResult, n);
        f->answered = g_new0(bool, n);
        f->done = done;
        f->userdata = userdata;
        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = f->workers[i] = cm->workers->pdata[i];
                FireResult *res = &f->results[i];
                w->in_fire = true;
                pthread_mutex_lock(&w->lock);
                res->camera = g_strdup(w->id ?: w->port);
                pthread_mutex_unlock(&w->lock);
                res->port = g_strdup(w->port);
                res->status = g_strdup("error");
        }
        return f;
}

void camera_fire_started(CameraManager *cm, Fire *f, const bool *armed, usec_t released) {
        Manager *m = cm->manager;
        int r;

        f->released = released;
        for (size_t i = 0; i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                FireResult *res = &f->results[i];
                g_free(res->message);
                if (armed[i]) {
                        f->n_pending++;
                        res->message = g_strdup("no answer");
                } else {
                        res->message = not_fired_reason(w);
                        w->in_fire = false;
                        f->workers[i] = NULL;
                }
        }
        usec_t timeout = (usec_t) (f->timeout_sec * USEC_PER_SEC);
        r = sd_event_add_time(m->event, &f->timer, CLOCK_MONOTONIC,
                              usec_add(usec_add(f->released, timeout), FIRE_MARGIN_USEC), 0, on_fire_deadline, cm);
        if (r < 0)
                log_warning_errno(r, "Fire: cannot arm its deadline (%m); waiting for every camera.");
        else
                (void) sd_event_source_set_description(f->timer, "fire-deadline");
        cm->fire = f;
}

void camera_fire_not_fired(CameraManager *cm, Fire *f, const char *why) {
        for (size_t i = 0; i < f->n; i++) {
                if (f->workers[i])
                        f->workers[i]->in_fire = false;
                f->workers[i] = NULL;
                g_free(f->results[i].message);
                f->results[i].message = g_strdup(why);
        }
        cm->fire = f;
        camera_fire_finish(cm, why);
}

/* ---- the steps of a release ---- */

size_t camera_arm(CameraWorker **workers, size_t n, uint32_t seq, usec_t timeout, const char *root, nsec_t fire_at,
                  bool kick, bool *armed, size_t *ret_settling) {
        size_t n_armed = 0, settling = 0;

        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = workers[i];
                if (armed[i])
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->phase == PHASE_PARKED && !w->stop) {
                        w->phase = PHASE_ARMED;
                        w->fire_seq = seq;
                        w->fire_timeout = timeout;
                        w->fire_at = fire_at;
                        w->corked = false;
                        g_free(w->download_root);
                        w->download_root = g_strdup(root);
                        atomic_store_explicit(&w->at_barrier, 0, memory_order_relaxed);
                        camera_worker_wake(w);
                        armed[i] = true;
                        n_armed++;
                } else if (w->phase == PHASE_IDLE && w->open && !w->stop)
                        settling++;
                else if (kick && w->phase == PHASE_IDLE && !w->open) {
                        w->kick = true;
                        camera_worker_wake(w);
                }
                pthread_mutex_unlock(&w->lock);
        }
        *ret_settling = settling;
        return n_armed;
}

/* Arms every parked worker; one that is just checking its link (a few ms)
 * is waited for a little, one that is backing off is told to retry now.
 * Returns the number armed. */
static size_t arm_workers(CameraManager *cm, uint32_t seq, usec_t timeout, const char *root, bool *armed) {
        CameraWorker **workers = (CameraWorker **) cm->workers->pdata;
        size_t n = cm->workers->len, n_armed = 0, settling;
        usec_t until = now_monotonic() + SETTLE_USEC;

        for (bool first = true;; first = false) {
                n_armed += camera_arm(workers, n, seq, timeout, root, 0, first, armed, &settling);
                if (settling == 0 || now_monotonic() >= until)
                        return n_armed;
                usleep(200);
        }
}

bool camera_wait_at_barrier(CameraWorker **workers, size_t n, uint32_t seq, const bool *armed, usec_t max) {
        usec_t start = now_monotonic();
        for (unsigned spins = 0;; spins++) {
                bool all = true;
                for (size_t i = 0; all && i < n; i++)
                        if (armed[i])
                                all = atomic_load_explicit(&workers[i]->at_barrier, memory_order_acquire) == seq;
                if (all)
                        return true;
                if (now_monotonic() - start > max)
                        return false;
                if (spins < 1000)
                        sched_yield();
                else
                        usleep(50);
        }
}

/* ---- the cork ---- */

static void set_cork(CameraWorker *w, int on) {
        /* Under w->lock: the worker forgets its sockets under it before
         * libgphoto2 may close them. */
        for (size_t i = 0; i < w->n_socks; i++)
                (void) setsockopt(w->socks[i].fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

size_t camera_cork(CameraWorker **workers, size_t n, const bool *armed, bool *corked) {
        size_t n_corked = 0;
        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = workers[i];
                if (!armed[i])
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->n_socks > 0 && camera_worker_socks_valid(w)) {
                        set_cork(w, 1);
                        w->corked = true;
                        corked[i] = true;
                        n_corked++;
                }
                pthread_mutex_unlock(&w->lock);
        }
        return n_corked;
}

/* Which of the worker's sockets hold a command (bit i for socks[i]);
 * *ret_done when there is nothing to wait for (a command queued, or the
 * camera closed meanwhile). */
static unsigned queued(CameraWorker *w, bool *ret_done) {
        unsigned mask = 0;
        bool done = w->n_socks == 0;
        for (size_t i = 0; i < w->n_socks; i++) {
                int outq = 0;
                if (ioctl(w->socks[i].fd, SIOCOUTQNSD, &outq) < 0)
                        done = true;
                else if (outq > 0)
                        mask |= 1u << i;
        }
        *ret_done = done || mask != 0;
        return mask;
}

void camera_gather(CameraWorker **workers, size_t n, const bool *corked, unsigned *loaded, usec_t until) {
        for (;;) {
                bool all = true;
                for (size_t i = 0; all && i < n; i++)
                        if (corked[i]) {
                                CameraWorker *w = workers[i];
                                pthread_mutex_lock(&w->lock);
                                loaded[i] = queued(w, &all);
                                pthread_mutex_unlock(&w->lock);
                        }
                if (all || now_monotonic() >= until)
                        return;
                /* Sleep, not yield: the workers may share this CPU. */
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 }, NULL);
        }
}

void camera_uncork(CameraWorker **workers, size_t n, const bool *corked, const unsigned *loaded,
                   int64_t *ret_uncorked_ns) {
        /* The sockets holding a command back to back, not preempted by what
         * the first ones wake (the caller runs SCHED_FIFO above the camera
         * threads when it may); then the others. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        if (!corked[i])
                                continue;
                        CameraWorker *w = workers[i];
                        int off = 0;
                        pthread_mutex_lock(&w->lock);
                        for (size_t k = 0; k < w->n_socks; k++)
                                if (!!(loaded[i] & (1u << k)) == (pass == 0))
                                        (void) setsockopt(w->socks[k].fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
                        pthread_mutex_unlock(&w->lock);
                        if (pass == 0 && loaded[i] && ret_uncorked_ns)
                                ret_uncorked_ns[i] = now_realtime();
                }
}

/* ---- Fire ---- */

int manager_cameras_fire(Manager *m, FireDoneFn done, void *userdata) {
        CameraManager *cm = m->cameras;
        int r;

        if (!cm || cm->stopping || cm->workers->len == 0)
                return -ENODEV;
        if (cm->fire)
                return -EBUSY;

        CameraWorker **workers = (CameraWorker **) cm->workers->pdata;
        size_t n = cm->workers->len;
        uint32_t seq = ++cm->seq ?: ++cm->seq;
        usec_t timeout = (usec_t) (m->config->capture_timeout_sec * USEC_PER_SEC);
        g_autofree bool *armed = g_new0(bool, n);
        g_autofree bool *corked = g_new0(bool, n);
        g_autofree unsigned *loaded = g_new0(unsigned, n);

        size_t n_armed = arm_workers(cm, seq, timeout, m->config->download ? m->config->download_root : NULL, armed);
        if (n_armed == 0)
                return -ENODEV;
        if (!camera_wait_at_barrier(workers, n, seq, armed, BARRIER_WAIT_USEC))
                log_warning("Fire: a camera thread did not reach the barrier in time; firing anyway.");

        /* The fire instant: every armed worker is parked at the barrier. */
        nsec_t t = now_realtime();
        Shot *shot = NULL;
        r = manager_fire_shot(m, t, &shot);
        if (r < 0) {
                atomic_store_explicit(&cm->cancelled, seq, memory_order_relaxed);
                camera_barrier_release(cm, seq);
                return log_error_errno(r, "Fire: cannot open a shot: %m");
        }
        size_t n_corked = n_armed > 1 ? camera_cork(workers, n, armed, corked) : 0;
        atomic_store_explicit(&cm->fire_time, t, memory_order_relaxed);
        camera_barrier_release(cm, seq);
        if (n_corked > 0) {
                camera_gather(workers, n, corked, loaded, now_monotonic() + GATHER_USEC);
                CameraSched saved;
                camera_rt_enter(cm, 2, &saved);
                camera_uncork(workers, n, corked, loaded, NULL);
                camera_rt_leave(&saved);
        }

        /* Off the critical path from here on. */
        Fire *f = camera_fire_new(cm, seq, done, userdata);
        g_strlcpy(f->shot_id, shot->id, sizeof f->shot_id);
        f->t = t;
        camera_fire_started(cm, f, armed, (usec_t) (atomic_load(&cm->released_ns) / 1000));
        log_fields(LOG_DEBUG, 0, f->shot_id, NULL, NULL, "Fire %s: %zu of %zu camera%s released (%zu corked).", f->shot_id,
                   n_armed, n, n == 1 ? "" : "s", n_corked);
        /* Answers that came meanwhile are in the eventfd already. */
        return 0;
}

/* ======== In each camera's thread ======== */

/* ---- the barrier ---- */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val) {
        return syscall(SYS_futex, (uint32_t *) addr, op, val, NULL, NULL, 0);
}

static bool barrier_open(CameraManager *cm, uint32_t seq, uint32_t *ret_go) {
        uint32_t go = atomic_load_explicit(&cm->go, memory_order_acquire);
        *ret_go = go;
        return (int32_t) (go - seq) >= 0;
}

/* Nothing but a load and a futex wait between the release and the capture
 * command. (Spinning for the last microseconds was measured and loses on a
 * machine with fewer CPUs than cameras: spinners delay the others.) */
static void barrier_wait(CameraManager *cm, uint32_t seq) {
        uint32_t go;
        while (!barrier_open(cm, seq, &go))
                (void) futex(&cm->go, FUTEX_WAIT_PRIVATE, go);
}

void camera_sleep_until(nsec_t t) {
        struct timespec ts = { .tv_sec = (time_t) (t / NSEC_PER_SEC), .tv_nsec = (long) (t % NSEC_PER_SEC) };
        /* TIMER_ABSTIME on CLOCK_REALTIME: a clock step while sleeping moves
         * the wake-up with it, so it is still "when the clock reads t". */
        while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

void camera_barrier_release(CameraManager *cm, uint32_t seq) {
        atomic_store_explicit(&cm->released_ns, now_mono_ns(), memory_order_relaxed);
        atomic_store_explicit(&cm->go, seq, memory_order_release);
        (void) futex(&cm->go, FUTEX_WAKE_PRIVATE, INT_MAX);
}

/* ---- firing ---- */

/* Writes the image to root/<id>/<name> through a hidden temporary name,
 * with the fire instant as its mtime, never replacing an existing file.
 * -EREMOTEIO: the camera failed; other errors are the local disk's. */
static int download_one(CameraWorker *w, const char *root, const char *id, const CameraFilePath *p, nsec_t t,
                        char **ret_path, char **ret_error) {
        g_autofree char *dir = g_build_filename(root, id, NULL);
        g_autofree char *name = camera_safe_name(p->name, 128);
        _cleanup_close_ int dfd = -1, fd = -1;
        CameraFile *file = NULL;
        int r;

        if (!name)
                name = g_strdup("image");
        if (g_mkdir_with_parents(dir, 0755) < 0 ||
            (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                r = negative_errno();
                *ret_error = g_strdup_printf("cannot create %s: %s", dir, g_strerror(-r));
                return r;
        }
        g_autofree char *tmp = g_strdup_printf(".%s.%08x.part", name, g_random_int());
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
                r = negative_errno();
                *ret_error = g_strdup_printf("cannot write in %s: %s", dir, g_strerror(-r));
                return r;
        }
        int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3); /* gp_file_free() closes its own */
        if (fd2 < 0 || gp_file_new_from_fd(&file, fd2) < 0) {
                r = fd2 < 0 ? negative_errno() : -ENOMEM;
                if (fd2 >= 0)
                        close(fd2);
                (void) unlinkat(dfd, tmp, 0);
                *ret_error = g_strdup_printf("cannot write in %s: %s", dir, g_strerror(-r));
                return r;
        }
        w->last_error[0] = 0;
        r = gp_camera_file_get(w->camera, p->folder, p->name, GP_FILE_TYPE_NORMAL, file, w->context);
        gp_file_free(file);
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                g_autofree char *e = camera_gp_error_text(w, r);
                *ret_error = g_strdup_printf("download of %s/%s failed: %s", p->folder, p->name, e);
                return -EREMOTEIO; /* the camera's side */
        }

        struct timespec ts[2] = { { .tv_sec = t / NSEC_PER_SEC, .tv_nsec = t % NSEC_PER_SEC } };
        ts[1] = ts[0];
        struct stat st = {};
        if (fstat(fd, &st) < 0 || st.st_size == 0 || futimens(fd, ts) < 0 || fsync(fd) < 0) {
                r = st.st_size == 0 ? -ENODATA : negative_errno();
                (void) unlinkat(dfd, tmp, 0);
                *ret_error = g_strdup_printf("cannot store %s/%s: %s", p->folder, p->name, g_strerror(-r));
                return r;
        }

        /* A camera's counter restarts (new card, reset): never overwrite an
         * earlier shot's raw file; "IMG_0001-2.JPG" instead. */
        const char *dot = strrchr(name, '.');
        g_autofree char *stem = g_strndup(name, dot && dot != name ? (gsize) (dot - name) : strlen(name));
        const char *ext = dot && dot != name ? dot : "";
        g_autofree char *final = g_strdup(name);
        for (unsigned i = 2;; i++) {
                r = renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE);
                if (r < 0 && errno == EINVAL) { /* no RENAME_NOREPLACE here */
                        r = linkat(dfd, tmp, dfd, final, 0);
                        if (r == 0)
                                (void) unlinkat(dfd, tmp, 0);
                }
                if (r == 0 || errno != EEXIST || i > 9999)
                        break;
                g_free(final);
                final = g_strdup_printf("%s-%u%s", stem, i, ext);
        }
        if (r < 0) {
                r = negative_errno();
                (void) unlinkat(dfd, tmp, 0);
                *ret_error = g_strdup_printf("cannot store %s in %s: %s", name, dir, g_strerror(-r));
                return r;
        }
        (void) fsync(dfd);
        *ret_path = g_build_filename(dir, final, NULL);
        return 0;
}

/* Parks the worker again in the same breath when the camera stays open, so
 * that a Fire right after this one's answer finds it ready. */
static void post_result(CameraWorker *w, uint32_t seq, bool ok, char *message, uint64_t latency, nsec_t sent,
                        bool park) {
        pthread_mutex_lock(&w->lock);
        w->phase = park ? PHASE_PARKED : PHASE_IDLE;
        fire_result_clear(&w->result);
        w->result = (FireResult) {
                .camera = g_strdup(w->id ?: w->port),
                .port = g_strdup(w->port),
                .status = g_strdup(ok ? "ok" : "error"),
                .message = message,
                .latency_usec = latency,
                .departure_usec = sent > 0 ? (uint64_t) sent / NSEC_PER_USEC : 0,
        };
        w->result_seq = seq;
        w->overdue = false;
        pthread_mutex_unlock(&w->lock);
        camera_manager_notify(w->cm);
}

/* Returns true when the camera must be re-opened. */
bool camera_worker_fire(CameraWorker *w) {
        CameraManager *cm = w->cm;

        pthread_mutex_lock(&w->lock);
        uint32_t seq = w->fire_seq;
        usec_t timeout = w->fire_timeout;
        nsec_t at = w->fire_at;
        g_autofree char *root = g_strdup(w->download_root);
        g_autofree char *id = g_strdup(w->id ?: w->port);
        pthread_mutex_unlock(&w->lock);

        CameraSched saved;
        camera_rt_enter(cm, 1, &saved);
        atomic_store_explicit(&w->at_barrier, seq, memory_order_release);
        barrier_wait(cm, seq);
        if (atomic_load_explicit(&cm->cancelled, memory_order_acquire) == seq) {
                camera_rt_leave(&saved);
                pthread_mutex_lock(&w->lock);
                w->phase = PHASE_IDLE;
                pthread_mutex_unlock(&w->lock);
                return false;
        }

        /* FireAt releases ahead of the instant: a command that cannot wait
         * in a corked socket (USB, or no socket found) waits here. */
        if (at > 0) {
                pthread_mutex_lock(&w->lock);
                bool corked = w->corked;
                pthread_mutex_unlock(&w->lock);
                if (!corked)
                        camera_sleep_until(at);
        }

        /* The critical path: the capture command, nothing else. */
        int64_t released = atomic_load_explicit(&cm->released_ns, memory_order_relaxed);
        nsec_t sent = now_realtime();
        w->last_error[0] = 0;
        int r = gp_camera_trigger_capture(w->camera, w->context);
        int64_t triggered = now_mono_ns();
        camera_rt_leave(&saved);
        uint64_t latency = triggered > released ? (uint64_t) (triggered - released) / 1000 : 0;
        if (at > 0) {
                nsec_t answered = now_realtime();
                latency = answered > sent ? (uint64_t) (answered - sent) / 1000 : 0;
        }

        nsec_t t = atomic_load_explicit(&cm->fire_time, memory_order_relaxed);
        usec_t deadline = (usec_t) (released / 1000) + timeout;
        bool reopen = false;
        char *message = NULL;
        bool ok = false;

        if (r < 0) {
                g_autofree char *e = camera_gp_error_text(w, r);
                message = g_strdup_printf("capture failed: %s", e);
                /* A refusal is an answer; anything else may leave late
                 * replies on the link. */
                reopen = r != GP_ERROR_CAMERA_BUSY && r != GP_ERROR_NOT_SUPPORTED;
                goto done;
        }

        /* Wait for the new image(s), to our own deadline. */
        GPtrArray *files = g_ptr_array_new_with_free_func(free);
        bool complete = false;
        usec_t quiet_until = 0;
        for (;;) {
                usec_t now = now_monotonic();
                if (camera_worker_should_stop(w)) {
                        r = GP_ERROR_CANCEL;
                        break;
                }
                if (now >= deadline)
                        break;
                if (files->len > 0 && (complete || now >= quiet_until))
                        break;
                usec_t until = files->len > 0 ? MIN(deadline, quiet_until) : deadline;
                int ms = (int) MIN((until - now + 999) / 1000, (usec_t) WAIT_SLICE_MSEC);
                CameraEventType type = GP_EVENT_TIMEOUT;
                void *data = NULL;
                r = gp_camera_wait_for_event(w->camera, MAX(ms, 1), &type, &data, w->context);
                if (r < 0) {
                        free(data);
                        break;
                }
                if (type == GP_EVENT_FILE_ADDED && data) {
                        g_ptr_array_add(files, data);
                        quiet_until = now_monotonic() + FILES_QUIET_USEC;
                        continue;
                }
                if (type == GP_EVENT_CAPTURE_COMPLETE)
                        complete = true;
                free(data);
        }

        if (files->len == 0) {
                if (r == GP_ERROR_CANCEL)
                        message = g_strdup("stopped");
                else if (r < 0) {
                        g_autofree char *e = camera_gp_error_text(w, r);
                        message = g_strdup_printf("waiting for the image failed: %s", e);
                } else
                        message = g_strdup_printf("timeout: no image within %.3g s", (double) timeout / USEC_PER_SEC);
                reopen = true;
                g_ptr_array_free(files, true);
                goto done;
        }
        if (r < 0)
                reopen = true; /* got the image, but the link is unwell */

        GString *msg = g_string_new(NULL);
        ok = true;
        for (guint i = 0; i < files->len; i++) {
                const CameraFilePath *p = files->pdata[i];
                g_autofree char *path = NULL, *error = NULL;
                if (msg->len)
                        g_string_append(msg, "; ");
                if (!root) {
                        g_string_append_printf(msg, "%s/%s on the camera", p->folder, p->name);
                        continue;
                }
                int k = download_one(w, root, id, p, t, &path, &error);
                if (k < 0) {
                        ok = false;
                        if (k == -EREMOTEIO)
                                reopen = true;
                        g_string_append(msg, error);
                        log_fields(LOG_WARNING, 0, NULL, id, NULL, "Camera %s: %s.", id, error);
                        continue;
                }
                g_string_append(msg, path);
                w->last_error[0] = 0;
                r = gp_camera_file_delete(w->camera, p->folder, p->name, w->context);
                if (r < 0) {
                        g_autofree char *e = camera_gp_error_text(w, r);
                        log_fields(LOG_DEBUG, 0, NULL, id, NULL, "Camera %s: %s/%s left on the camera: %s.", id,
                                   p->folder, p->name, e);
                }
        }
        message = g_string_free(msg, false);
        g_ptr_array_free(files, true);

done:
        /* What came after the image (CaptureComplete) must not be taken for
         * the next capture's. */
        if (!reopen && camera_worker_drain_events(w, 10) < 0)
                reopen = true;
        post_result(w, seq, ok, message, latency, sent, !reopen);
        return reopen;
}
