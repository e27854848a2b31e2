/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Fire (SPEC §4). In the event loop: arm the parked workers, wait until
 * every one of them sits at the barrier, take the fire instant and open the
 * shot, release them together, then collect their answers — or give up on
 * the late ones at the deadline; done() is called exactly once, from the
 * loop. In each camera's thread: wait at the barrier, send the capture
 * command, wait for the image to its own deadline, download it.
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

typedef struct Fire {
        uint32_t seq;
        char shot_id[SHOT_ID_MAX];
        nsec_t t;
        usec_t released;
        double timeout_sec;
        size_t n, n_pending;
        CameraWorker **workers; /* NULL where the camera was not fired */
        FireResult *results;
        bool *answered;
        sd_event_source *timer;
        FireDoneFn done;
        void *userdata;
} Fire;

static void fire_free(Fire *f) {
        if (!f)
                return;
        sd_event_source_disable_unref(f->timer);
        if (f->results)
                fire_results_free(f->results, f->n);
        g_free(f->workers);
        g_free(f->answered);
        g_free(f);
}

void fire_results_free(FireResult *r, size_t n) {
        for (size_t i = 0; r && i < n; i++)
                fire_result_clear(&r[i]);
        g_free(r);
}

/* One line per Fire, with every camera's result. */
static void fire_log(Fire *f) {
        GString *s = g_string_new(NULL);
        size_t ok = 0;
        for (size_t i = 0; i < f->n; i++) {
                FireResult *r = &f->results[i];
                bool good = streq(r->status, "ok");
                ok += good;
                g_string_append_printf(s, "%s%s %s", i ? "; " : "", r->camera, r->status);
                if (f->answered[i])
                        g_string_append_printf(s, " %" PRIu64 " µs", r->latency_usec);
                if (!good && !isempty(r->message))
                        g_string_append_printf(s, " (%s)", r->message);
        }
        log_fields(ok == f->n ? LOG_INFO : LOG_WARNING, 0, f->shot_id, NULL, NULL, "Fire %s: %zu of %zu camera%s ok: %s.",
                   f->shot_id, ok, f->n, f->n == 1 ? "" : "s", s->str);
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
        }
}

/* Every camera answered, or the deadline passed, or the daemon stops. */
static void fire_finish(CameraManager *cm, const char *why) {
        Fire *f = TAKE_PTR(cm->fire);

        for (size_t i = 0; i < f->n; i++) {
                CameraWorker *w = f->workers[i];
                if (!w)
                        continue;
                w->in_fire = false;
                if (f->answered[i])
                        continue;
                FireResult *r = &f->results[i];
                g_free(r->message);
                r->message = g_strdup(why);
                pthread_mutex_lock(&w->lock);
                if (w->fire_seq == f->seq && w->phase == PHASE_ARMED) {
                        /* Still inside libgphoto2: not ready until it comes
                         * back; cut its link so that it does so now. */
                        w->overdue = true;
                        camera_worker_abort_io(w);
                }
                pthread_mutex_unlock(&w->lock);
        }
        fire_log(f);
        f->done(cm->manager, f->shot_id, f->results, f->n, f->userdata);
        fire_free(f);
        camera_manager_reap(cm);
}

static int on_fire_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        CameraManager *cm = userdata;
        if (!cm->fire)
                return 0;
        fire_collect(cm);
        g_autofree char *why = g_strdup_printf("timeout: no answer within %.3g s", cm->fire->timeout_sec);
        fire_finish(cm, why);
        return 0;
}

void camera_fire_notify(CameraManager *cm) {
        if (!cm->fire)
                return;
        fire_collect(cm);
        if (cm->fire->n_pending == 0)
                fire_finish(cm, "no answer");
}

void camera_fire_abort(CameraManager *cm, const char *why) {
        if (!cm->fire)
                return;
        fire_collect(cm);
        fire_finish(cm, why);
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

/* Arms every parked worker; one that is just checking its link (a few ms)
 * is waited for a little, one that is backing off is told to retry now.
 * Returns the number armed. */
static size_t arm_workers(CameraManager *cm, uint32_t seq, usec_t timeout, const char *root, bool *armed) {
        size_t n = cm->workers->len, n_armed = 0;
        usec_t until = now_monotonic() + SETTLE_USEC;

        for (;;) {
                size_t settling = 0;
                for (size_t i = 0; i < n; i++) {
                        CameraWorker *w = cm->workers->pdata[i];
                        if (armed[i])
                                continue;
                        pthread_mutex_lock(&w->lock);
                        if (w->phase == PHASE_PARKED) {
                                w->phase = PHASE_ARMED;
                                w->fire_seq = seq;
                                w->fire_timeout = timeout;
                                g_free(w->download_root);
                                w->download_root = g_strdup(root);
                                atomic_store_explicit(&w->at_barrier, 0, memory_order_relaxed);
                                camera_worker_wake(w);
                                armed[i] = true;
                                n_armed++;
                        } else if (w->phase == PHASE_IDLE && w->open)
                                settling++;
                        else if (w->phase == PHASE_IDLE && !w->open) {
                                w->kick = true;
                                camera_worker_wake(w);
                        }
                        pthread_mutex_unlock(&w->lock);
                }
                if (settling == 0 || now_monotonic() >= until)
                        return n_armed;
                usleep(200);
        }
}

/* Until every armed worker waits at the barrier (bounded: one that is not
 * there yet passes through late). */
static void wait_at_barrier(CameraManager *cm, uint32_t seq, const bool *armed) {
        usec_t start = now_monotonic();
        for (unsigned spins = 0;; spins++) {
                bool all = true;
                for (size_t i = 0; all && i < cm->workers->len; i++)
                        if (armed[i]) {
                                CameraWorker *w = cm->workers->pdata[i];
                                all = atomic_load_explicit(&w->at_barrier, memory_order_acquire) == seq;
                        }
                if (all)
                        return;
                if (now_monotonic() - start > BARRIER_WAIT_USEC) {
                        log_warning("Fire: a camera thread did not reach the barrier in time; firing anyway.");
                        return;
                }
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

static size_t cork(CameraManager *cm, const bool *armed, bool *corked) {
        size_t n = 0;
        for (size_t i = 0; i < cm->workers->len; i++) {
                CameraWorker *w = cm->workers->pdata[i];
                if (!armed[i])
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->n_socks > 0 && camera_worker_socks_valid(w)) {
                        set_cork(w, 1);
                        corked[i] = true;
                        n++;
                }
                pthread_mutex_unlock(&w->lock);
        }
        return n;
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

static void gather_and_uncork(CameraManager *cm, bool *corked) {
        size_t n = cm->workers->len;
        usec_t until = now_monotonic() + GATHER_USEC;
        g_autofree unsigned *loaded = g_new0(unsigned, n);

        for (;;) {
                bool all = true;
                for (size_t i = 0; all && i < n; i++)
                        if (corked[i]) {
                                CameraWorker *w = cm->workers->pdata[i];
                                pthread_mutex_lock(&w->lock);
                                loaded[i] = queued(w, &all);
                                pthread_mutex_unlock(&w->lock);
                        }
                if (all || now_monotonic() >= until)
                        break;
                /* Sleep, not yield: the workers may share this CPU. */
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 }, NULL);
        }

        /* The sockets holding a command back to back, not preempted by
         * what the first ones wake; then the others. */
        CameraSched saved;
        camera_rt_enter(cm, 2, &saved);
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        if (!corked[i])
                                continue;
                        CameraWorker *w = cm->workers->pdata[i];
                        int off = 0;
                        pthread_mutex_lock(&w->lock);
                        for (size_t k = 0; k < w->n_socks; k++)
                                if (!!(loaded[i] & (1u << k)) == (pass == 0))
                                        (void) setsockopt(w->socks[k].fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
                        pthread_mutex_unlock(&w->lock);
                }
        camera_rt_leave(&saved);
}

/* ---- Fire ---- */

int manager_cameras_fire(Manager *m, FireDoneFn done, void *userdata) {
        CameraManager *cm = m->cameras;
        int r;

        if (!cm || cm->stopping || cm->workers->len == 0)
                return -ENODEV;
        if (cm->fire)
                return -EBUSY;

        size_t n = cm->workers->len;
        uint32_t seq = ++cm->seq ?: ++cm->seq;
        usec_t timeout = (usec_t) (m->config->capture_timeout_sec * USEC_PER_SEC);
        g_autofree bool *armed = g_new0(bool, n);
        g_autofree bool *corked = g_new0(bool, n);

        size_t n_armed = arm_workers(cm, seq, timeout, m->config->download ? m->config->download_root : NULL, armed);
        if (n_armed == 0)
                return -ENODEV;
        wait_at_barrier(cm, seq, armed);

        /* The fire instant: every armed worker is parked at the barrier. */
        nsec_t t = now_realtime();
        Shot *shot = NULL;
        r = manager_fire_shot(m, t, &shot);
        if (r < 0) {
                atomic_store_explicit(&cm->cancelled, seq, memory_order_relaxed);
                camera_barrier_release(cm, seq);
                return log_error_errno(r, "Fire: cannot open a shot: %m");
        }
        size_t n_corked = n_armed > 1 ? cork(cm, armed, corked) : 0;
        atomic_store_explicit(&cm->fire_time, t, memory_order_relaxed);
        camera_barrier_release(cm, seq);
        if (n_corked > 0)
                gather_and_uncork(cm, corked);

        /* Off the critical path from here on. */
        Fire *f = g_new0(Fire, 1);
        f->seq = seq;
        g_strlcpy(f->shot_id, shot->id, sizeof f->shot_id);
        f->t = t;
        f->released = (usec_t) (atomic_load(&cm->released_ns) / 1000);
        f->timeout_sec = m->config->capture_timeout_sec;
        f->n = n;
        f->workers = g_new0(CameraWorker *, n);
        f->results = g_new0(FireResult, n);
        f->answered = g_new0(bool, n);
        f->done = done;
        f->userdata = userdata;
        for (size_t i = 0; i < n; i++) {
                CameraWorker *w = cm->workers->pdata[i];
                FireResult *res = &f->results[i];
                pthread_mutex_lock(&w->lock);
                res->camera = g_strdup(w->id ?: w->port);
                pthread_mutex_unlock(&w->lock);
                res->port = g_strdup(w->port);
                res->status = g_strdup("error");
                if (armed[i]) {
                        f->workers[i] = w;
                        w->in_fire = true;
                        f->n_pending++;
                        res->message = g_strdup("no answer");
                } else
                        res->message = not_fired_reason(w);
        }
        r = sd_event_add_time(m->event, &f->timer, CLOCK_MONOTONIC,
                              usec_add(usec_add(f->released, timeout), FIRE_MARGIN_USEC), 0, on_fire_deadline, cm);
        if (r < 0)
                log_warning_errno(r, "Fire: cannot arm its deadline (%m); waiting for every camera.");
        else
                (void) sd_event_source_set_description(f->timer, "fire-deadline");
        cm->fire = f;
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
static void post_result(CameraWorker *w, uint32_t seq, bool ok, char *message, uint64_t latency, bool park) {
        pthread_mutex_lock(&w->lock);
        w->phase = park ? PHASE_PARKED : PHASE_IDLE;
        fire_result_clear(&w->result);
        w->result = (FireResult) {
                .camera = g_strdup(w->id ?: w->port),
                .port = g_strdup(w->port),
                .status = g_strdup(ok ? "ok" : "error"),
                .message = message,
                .latency_usec = latency,
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

        /* The critical path: the capture command, nothing else. */
        int64_t released = atomic_load_explicit(&cm->released_ns, memory_order_relaxed);
        w->last_error[0] = 0;
        int r = gp_camera_trigger_capture(w->camera, w->context);
        int64_t triggered = now_mono_ns();
        camera_rt_leave(&saved);
        uint64_t latency = triggered > released ? (uint64_t) (triggered - released) / 1000 : 0;

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
        post_result(w, seq, ok, message, latency, !reopen);
        return reopen;
}
