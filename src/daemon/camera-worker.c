/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* One thread per camera: connects through libgphoto2, keeps the camera open
 * and parked, fires it when the barrier opens, waits for the new image to
 * its own deadline, downloads it, and hands the result back to the event
 * loop. Reconnects after any failure with a backoff.
 *
 * Facts about libgphoto2 2.5.30 this relies on (found against the
 * emulator, tests/fakecam):
 * - gp_camera_capture() waits for the camera's events without any timeout;
 *   gp_camera_trigger_capture() reports the camera's answer and returns, and
 *   gp_camera_wait_for_event() returns a timeout cleanly, so the wait for
 *   the image is ours to bound.
 * - A PTP/IP read waits at most 2.5 s whatever gp_port_set_timeout() says;
 *   after a timeout or an I/O error late answers and events are matched to
 *   the wrong request: the camera is re-opened after any such failure.
 * - On USB a wait_for_event() timeout of 0 means "forever" (libusb): never
 *   pass 0. */

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "camera-internal.h"
#include "log.h"

pthread_mutex_t gphoto_lock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK_INTERVAL_USEC (2 * USEC_PER_SEC)   /* idle: drain events, notice a dead link */
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)

/* ---- small helpers ---- */

static struct timespec mono_timespec(usec_t at) {
        return (struct timespec) { .tv_sec = (time_t) (at / USEC_PER_SEC),
                                   .tv_nsec = (long) (at % USEC_PER_SEC) * 1000 };
}

void camera_manager_notify(CameraManager *cm) {
        (void) eventfd_write(cm->efd, 1);
}

char *camera_safe_name(const char *s, size_t max) {
        if (!s)
                return NULL;
        GString *out = g_string_new(NULL);
        for (const char *p = s; *p && out->len < max; p++) {
                char ch = *p;
                bool ok = g_ascii_isalnum(ch) || strchr("._+,:-", ch);
                if (out->len == 0 && ok && !g_ascii_isalnum(ch) && ch != '_')
                        ok = false; /* no hidden, option-like or odd first character */
                g_string_append_c(out, ok ? ch : '_');
        }
        /* Nothing but replacement characters says nothing. */
        if (strspn(out->str, "_") == out->len) {
                g_string_free(out, true);
                return NULL;
        }
        return g_string_free(out, false);
}

void fire_result_clear(FireResult *r) {
        g_free(r->camera);
        g_free(r->port);
        g_free(r->status);
        g_free(r->message);
        *r = (FireResult) {};
}

static void on_context_error(GPContext *context, const char *text, void *userdata) {
        CameraWorker *w = userdata;
        g_strlcpy(w->last_error, text ?: "", sizeof w->last_error);
        for (char *p = w->last_error; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        g_strstrip(w->last_error);
}

static GPContextFeedback on_context_cancel(GPContext *context, void *userdata) {
        CameraWorker *w = userdata;
        return atomic_load_explicit(&w->quit, memory_order_relaxed) ? GP_CONTEXT_FEEDBACK_CANCEL
                                                                    : GP_CONTEXT_FEEDBACK_OK;
}

/* "I/O problem (No camera found at …)": libgphoto2's code and, when it told
 * the context more, that too. */
char *camera_gp_error_text(CameraWorker *w, int r) {
        const char *what = gp_result_as_string(r);
        if (!isempty(w->last_error) && !strstr(what, w->last_error))
                return g_strdup_printf("%s (%s)", w->last_error, what);
        return g_strdup(what);
}

static void set_state(CameraWorker *w, const char *state) {
        pthread_mutex_lock(&w->lock);
        bool changed = !streq_ptr(w->state, state);
        if (changed) {
                g_free(w->state);
                w->state = g_strdup(state);
        }
        const char *id = w->id ?: w->port;
        g_autofree char *name = g_strdup(id);
        pthread_mutex_unlock(&w->lock);

        if (!changed)
                return;
        if (g_str_has_prefix(state, "error"))
                log_fields(LOG_WARNING, 0, NULL, name, NULL, "Camera %s (%s): %s.", name, w->port, state);
        else
                log_fields(LOG_DEBUG, 0, NULL, name, NULL, "Camera %s (%s) is %s.", name, w->port, state);
}

/* ---- PTP/IP sockets: the watchdog's handle on a stuck camera ---- */

/* "ptpip:ADDR[:PORT[:EVENTPORT]]", as libgphoto2's ptp2 parses it. */
bool camera_parse_ptpip(const char *port, struct in_addr *addr, uint16_t *cmd, uint16_t *evt) {
        g_auto(GStrv) parts = g_strsplit(port + strlen("ptpip:"), ":", 4);
        unsigned long p1 = 15740, p2;
        if (!parts[0] || inet_pton(AF_INET, parts[0], addr) != 1)
                return false;
        if (parts[1] && (sscanf(parts[1], "%lu", &p1) != 1 || p1 > 65535))
                return false;
        p2 = p1;
        if (parts[1] && parts[2] && (sscanf(parts[2], "%lu", &p2) != 1 || p2 > 65535))
                return false;
        *cmd = (uint16_t) p1;
        *evt = (uint16_t) p2;
        return true;
}

/* libgphoto2 does not show its sockets; they are the process's TCP sockets
 * connected to the camera's address (one camera per address: see
 * configured_ports()). Only under gphoto_lock, so that no other camera is
 * connecting meanwhile. Calls f for each; stops when it returns false. */
static void for_camera_sockets(CameraWorker *w, bool (*f)(CameraWorker *w, int fd, const struct stat *st)) {
        struct in_addr addr;
        uint16_t cmd, evt;

        if (!port_is_ptpip(w->port) || !camera_parse_ptpip(w->port, &addr, &cmd, &evt))
                return;
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);
                if (*end || fd < 0 || fd == dirfd(d))
                        continue;
                struct stat st;
                struct sockaddr_in peer;
                socklen_t len = sizeof peer;
                if (fstat((int) fd, &st) < 0 || !S_ISSOCK(st.st_mode))
                        continue;
                if (getpeername((int) fd, (struct sockaddr *) &peer, &len) < 0 || peer.sin_family != AF_INET ||
                    peer.sin_addr.s_addr != addr.s_addr ||
                    (ntohs(peer.sin_port) != cmd && ntohs(peer.sin_port) != evt))
                        continue;
                if (!f(w, (int) fd, &st))
                        break;
        }
        closedir(d);
}

static bool add_socket(CameraWorker *w, int fd, const struct stat *st) {
        if (w->n_socks >= ELEMENTSOF(w->socks))
                return false;
        w->socks[w->n_socks++] = (CameraSocket) { .fd = fd, .ino = st->st_ino };
        return true;
}

/* Right after gp_camera_init(). */
static int record_sockets(CameraWorker *w) {
        pthread_mutex_lock(&w->lock);
        w->n_socks = 0;
        for_camera_sockets(w, add_socket);
        bool too_high = false;
        for (size_t i = 0; i < w->n_socks; i++)
                too_high = too_high || w->socks[i].fd >= FD_SETSIZE;
        pthread_mutex_unlock(&w->lock);
        /* libgphoto2 waits on its sockets with select(): beyond FD_SETSIZE
         * that writes out of bounds. */
        return too_high ? -EMFILE : 0;
}

static bool close_leaked(CameraWorker *w, int fd, const struct stat *st) {
        log_debug("Camera %s: closing socket %i that libgphoto2 left open.", w->port, fd);
        close(fd);
        return true;
}

void camera_worker_abort_io(CameraWorker *w) {
        /* Under w->lock: the worker forgets the sockets under that lock
         * before libgphoto2 may close them, so these are still the camera's. */
        for (size_t i = 0; i < w->n_socks; i++) {
                struct stat st;
                if (fstat(w->socks[i].fd, &st) == 0 && st.st_ino == w->socks[i].ino)
                        (void) shutdown(w->socks[i].fd, SHUT_RDWR);
        }
}

/* libgphoto2 2.5.28 and later (still so upstream): ptp2's camera_exit() closes
 * params->jpgfd, a socket only Fuji's PTP/IP code opens; for any other
 * PTP/IP camera it is 0 from calloc(), so every exit closes file descriptor
 * 0 — whatever the daemon holds there by then (a file being published, a
 * socket). The three ints are adjacent in PTPParams ("int cmdfd, evtfd,
 * jpgfd;"), which is the first member of the driver's private data: find
 * the command and event sockets followed by 0 there, and only if that is
 * found exactly once, set jpgfd to -1 ("no socket"), as Fuji's code does.
 * Returns true when patched. */
static bool fix_ptpip_jpgfd(CameraWorker *w) {
        if (w->n_socks != 2 || !w->camera->pl || !strstr(w->abilities.library, "ptp2"))
                return false;
        int a = w->socks[0].fd, b = w->socks[1].fd;
        int *v = (int *) w->camera->pl;
        size_t n = malloc_usable_size(w->camera->pl) / sizeof(int);
        int *hit = NULL;
        unsigned hits = 0;
        for (size_t i = 0; i + 2 < n; i++)
                if (((v[i] == a && v[i + 1] == b) || (v[i] == b && v[i + 1] == a)) && v[i + 2] == 0) {
                        hit = &v[i + 2];
                        hits++;
                }
        if (hits != 1)
                return false;
        *hit = -1;
        return true;
}

/* Whatever happened above, never leave 0 free for the next open() to take
 * and the next camera's exit to close. */
void camera_keep_fd0(void) {
        if (fcntl(0, F_GETFD) >= 0 || errno != EBADF)
                return;
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd > 0)
                close(fd); /* someone took 0 meanwhile: theirs now */
}

/* libgphoto2 leaks its driver's private data (~10 KB) on every failed
 * gp_camera_init(), so a PTP/IP camera that is switched off for a week must
 * not be retried through it: a plain TCP connection first tells whether
 * anything listens. */
static int probe_ptpip(CameraWorker *w) {
        struct in_addr addr;
        uint16_t cmd, evt;

        if (!camera_parse_ptpip(w->port, &addr, &cmd, &evt)) {
                g_snprintf(w->last_error, sizeof w->last_error, "bad PTP/IP address %s", w->port);
                return GP_ERROR_BAD_PARAMETERS;
        }
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return GP_ERROR_OS_FAILURE;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cmd), .sin_addr = addr };
        int r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
        if (r < 0 && errno == EINPROGRESS) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int err = 0;
                socklen_t len = sizeof err;
                r = poll(&p, 1, 2500);
                if (r == 0)
                        errno = ETIMEDOUT;
                else if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
                        errno = err;
                r = r > 0 && err == 0 ? 0 : -1;
        }
        if (r < 0) {
                char ip[INET_ADDRSTRLEN] = "?";
                int e = errno;
                (void) inet_ntop(AF_INET, &addr, ip, sizeof ip);
                g_snprintf(w->last_error, sizeof w->last_error, "cannot connect to %s:%u: %s", ip, cmd, g_strerror(e));
                return GP_ERROR_IO;
        }
        return 0;
}

/* ---- connecting ---- */

static int lookup_usb_abilities(CameraWorker *w, CameraAbilities *ret) {
        CameraManager *cm = w->cm;
        CameraList *list = NULL;
        GPPortInfoList *il = NULL;
        int r;

        /* A fresh port list: the camera may have been plugged in since. */
        r = gp_port_info_list_new(&il);
        if (r >= 0)
                r = gp_port_info_list_load(il);
        if (r < 0) {
                if (il)
                        gp_port_info_list_free(il);
                return r;
        }
        gp_port_info_list_free(cm->portinfo);
        cm->portinfo = il;

        r = gp_list_new(&list);
        if (r < 0)
                return r;
        r = gp_abilities_list_detect(cm->abilities, cm->portinfo, list, w->context);
        int found = GP_ERROR_MODEL_NOT_FOUND;
        for (int i = 0; r >= 0 && i < gp_list_count(list); i++) {
                const char *model = NULL, *path = NULL;
                if (gp_list_get_name(list, i, &model) < 0 || gp_list_get_value(list, i, &path) < 0)
                        continue;
                if (!streq(path, w->port))
                        continue;
                int m = gp_abilities_list_lookup_model(cm->abilities, model);
                if (m >= 0)
                        found = gp_abilities_list_get_abilities(cm->abilities, m, ret);
                break;
        }
        gp_list_free(list);
        if (r < 0)
                return r;
        if (found == GP_ERROR_MODEL_NOT_FOUND)
                g_snprintf(w->last_error, sizeof w->last_error, "no camera found at %s", w->port);
        return found;
}

/* "usb:BBB,DDD": whether its device node exists, without asking
 * libgphoto2 (whose detection leaks on every call). */
static bool usb_port_present(const char *port) {
        unsigned bus, dev;
        char end;
        if (sscanf(port, "usb:%u,%u%c", &bus, &dev, &end) != 2)
                return true; /* some other form: let libgphoto2 judge */
        char path[64];
        g_snprintf(path, sizeof path, "/dev/bus/usb/%03u/%03u", bus, dev);
        return access(path, F_OK) == 0;
}

/* Under gphoto_lock. */
static int open_camera(CameraWorker *w, Camera **ret) {
        CameraAbilities a = w->abilities;
        Camera *camera = NULL;
        GPPortInfo info;
        int r;

        if (a.model[0] == 0) {
                /* An explicit usb: port: its model is detected once per
                 * device (a device number is not reused until it wraps). */
                if (!usb_port_present(w->port)) {
                        g_snprintf(w->last_error, sizeof w->last_error, "no USB device at %s", w->port);
                        return GP_ERROR_IO_USB_FIND;
                }
                if (w->detected.model[0] == 0) {
                        r = lookup_usb_abilities(w, &w->detected);
                        if (r < 0) {
                                w->detected = (CameraAbilities) {};
                                return r;
                        }
                }
                a = w->detected;
        }
        r = gp_camera_new(&camera);
        if (r < 0)
                return r;
        r = gp_camera_set_abilities(camera, a);
        if (r >= 0) {
                r = gp_port_info_list_lookup_path(w->cm->portinfo, w->port);
                if (r >= 0)
                        r = gp_port_info_list_get_info(w->cm->portinfo, r, &info);
                if (r >= 0)
                        r = gp_camera_set_port_info(camera, info);
        }
        if (r >= 0)
                r = gp_camera_init(camera, w->context);
        if (r < 0) {
                w->detected = (CameraAbilities) {}; /* another device there next time? */
                gp_camera_free(camera);
                /* ptp2 keeps its PTP/IP sockets open when the session
                 * fails after connecting (and never closes them): nobody
                 * else has a socket to this camera now. */
                for_camera_sockets(w, close_leaked);
                return r;
        }
        *ret = camera;
        return 0;
}

static void close_camera(CameraWorker *w) {
        if (!w->camera)
                return;
        /* From here on the sockets may be closed and their numbers reused. */
        pthread_mutex_lock(&w->lock);
        w->n_socks = 0;
        w->open = false;
        pthread_mutex_unlock(&w->lock);

        pthread_mutex_lock(&gphoto_lock);
        (void) gp_camera_exit(w->camera, w->context);
        gp_camera_free(w->camera);
        if (port_is_ptpip(w->port))
                camera_keep_fd0();
        pthread_mutex_unlock(&gphoto_lock);
        w->camera = NULL;
}

/* A text widget of the camera's configuration ("serialnumber", …). */
static char *config_text(CameraWorker *w, const char *name) {
        CameraWidget *widget = NULL;
        CameraWidgetType type;
        const char *value = NULL;
        char *ret = NULL;

        if (gp_camera_get_single_config(w->camera, name, &widget, w->context) < 0)
                return NULL;
        if (gp_widget_get_type(widget, &type) >= 0 && type == GP_WIDGET_TEXT &&
            gp_widget_get_value(widget, &value) >= 0 && !isempty(value))
                ret = g_strstrip(g_strdup(value));
        gp_widget_free(widget);
        if (ret && !*ret)
                g_clear_pointer(&ret, g_free);
        return ret;
}

/* "  Serial Number: 1234\n" from the summary, in libgphoto2's untranslated
 * wording (the daemon does not call setlocale()). */
static char *summary_field(const char *summary, const char *key) {
        g_auto(GStrv) lines = g_strsplit(summary, "\n", -1);
        for (char **l = lines; *l; l++) {
                const char *s = *l + strspn(*l, " \t");
                if (g_str_has_prefix(s, key) && s[strlen(key)] == ':') {
                        char *v = g_strstrip(g_strdup(s + strlen(key) + 1));
                        if (*v)
                                return v;
                        g_free(v);
                }
        }
        return NULL;
}

static void read_identity(CameraWorker *w, char **ret_id, char **ret_model) {
        g_autofree char *serial = config_text(w, "serialnumber");
        g_autofree char *model = config_text(w, "cameramodel");

        if (!serial || !model) {
                CameraText text;
                if (gp_camera_get_summary(w->camera, &text, w->context) >= 0) {
                        text.text[sizeof text.text - 1] = 0;
                        if (!serial)
                                serial = summary_field(text.text, "Serial Number");
                        if (!model)
                                model = summary_field(text.text, "Model");
                }
        }
        /* The id names a folder under DownloadRoot: keep it tame. */
        *ret_id = camera_safe_name(serial, 64) ?: g_strdup(w->port);
        *ret_model = model ? utf8_escape_invalid(model) : g_strdup(w->abilities.model[0] ? w->abilities.model : "");
}

/* [Trigger] SetClock=: the "datetime" widget, as the script this replaces
 * did; a camera without it is fine. */
static void set_clock(CameraWorker *w, const char *id) {
        CameraWidget *widget = NULL;
        CameraWidgetType type;
        int r;

        w->last_error[0] = 0;
        r = gp_camera_get_single_config(w->camera, "datetime", &widget, w->context);
        if (r < 0) {
                log_fields(LOG_DEBUG, 0, NULL, id, NULL, "Camera %s has no settable clock: %s.", id,
                           gp_result_as_string(r));
                return;
        }
        r = gp_widget_get_type(widget, &type);
        if (r >= 0 && type == GP_WIDGET_DATE) {
                int now = (int) time(NULL);
                r = gp_widget_set_value(widget, &now);
                if (r >= 0)
                        r = gp_camera_set_single_config(w->camera, "datetime", widget, w->context);
                if (r >= 0)
                        log_fields(LOG_INFO, 0, NULL, id, NULL, "Set the clock of camera %s.", id);
                else {
                        g_autofree char *e = camera_gp_error_text(w, r);
                        log_fields(LOG_NOTICE, 0, NULL, id, NULL, "Cannot set the clock of camera %s: %s.", id, e);
                }
        } else
                log_fields(LOG_DEBUG, 0, NULL, id, NULL, "Camera %s: its datetime setting is not a date; clock left alone.",
                           id);
        gp_widget_free(widget);
}

/* Events pending on an open camera (late CaptureComplete, the user's own
 * shots, property changes) are read and dropped: the next capture must see
 * only its own. An error means the link is gone. */
int camera_worker_drain_events(CameraWorker *w, unsigned max) {
        for (unsigned i = 0; i < max; i++) {
                CameraEventType type = GP_EVENT_TIMEOUT;
                void *data = NULL;
                int r = gp_camera_wait_for_event(w->camera, 10, &type, &data, w->context);
                free(data);
                if (r < 0)
                        return r;
                if (type == GP_EVENT_TIMEOUT)
                        return 0;
        }
        return 0;
}

static int worker_connect(CameraWorker *w, char **ret_error) {
        Camera *camera = NULL;
        int r;

        w->last_error[0] = 0;
        if (port_is_ptpip(w->port)) {
                r = probe_ptpip(w);
                if (r < 0) {
                        *ret_error = g_strdup(w->last_error);
                        return r;
                }
        }

        pthread_mutex_lock(&gphoto_lock);
        if (camera_worker_should_stop(w))
                r = GP_ERROR_CANCEL;
        else
                r = open_camera(w, &camera);
        int k = 0;
        if (r >= 0) {
                w->camera = camera;
                k = record_sockets(w);
                if (port_is_ptpip(w->port) && !fix_ptpip_jpgfd(w))
                        log_debug("Camera %s: libgphoto2's PTP/IP exit bug not found to patch; fd 0 is guarded instead.",
                                  w->port);
        }
        pthread_mutex_unlock(&gphoto_lock);
        if (r < 0) {
                *ret_error = camera_gp_error_text(w, r);
                return r;
        }
        if (k < 0) {
                *ret_error = g_strdup("too many open files for libgphoto2 (socket beyond FD_SETSIZE)");
                return GP_ERROR_OS_FAILURE;
        }

        g_autofree char *id = NULL, *model = NULL;
        read_identity(w, &id, &model);

        pthread_mutex_lock(&w->lock);
        bool clock = w->set_clock;
        bool changed = !streq_ptr(w->id, id);
        g_free(w->id);
        w->id = g_strdup(id);
        g_free(w->model);
        w->model = g_strdup(model);
        pthread_mutex_unlock(&w->lock);
        if (changed)
                log_fields(LOG_INFO, 0, NULL, id, NULL, "Camera %s (%s) at %s.", id, model, w->port);

        if (clock)
                set_clock(w, id);
        r = camera_worker_drain_events(w, 100);
        if (r < 0) {
                *ret_error = camera_gp_error_text(w, r);
                return r;
        }
        return 0;
}

/* ---- waiting ---- */

typedef enum Wake {
        WAKE_STOP,
        WAKE_KICK,
        WAKE_TIMEOUT,
        WAKE_FIRE,
} Wake;

/* Waits until `until` (CLOCK_MONOTONIC µs); parked == true makes the
 * worker available to Fire meanwhile. */
static Wake worker_wait(CameraWorker *w, usec_t until, bool parked) {
        struct timespec ts = mono_timespec(until);
        Wake wake;

        pthread_mutex_lock(&w->lock);
        if (parked && w->phase == PHASE_IDLE)
                w->phase = PHASE_PARKED;
        for (;;) {
                if (w->stop) {
                        wake = WAKE_STOP;
                        break;
                }
                if (w->phase == PHASE_ARMED) {
                        wake = WAKE_FIRE;
                        break;
                }
                if (w->kick) {
                        w->kick = false;
                        if (!parked) {
                                wake = WAKE_KICK;
                                break;
                        }
                }
                if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT) {
                        wake = w->phase == PHASE_ARMED ? WAKE_FIRE : WAKE_TIMEOUT;
                        if (wake == WAKE_TIMEOUT && w->stop)
                                wake = WAKE_STOP;
                        break;
                }
        }
        if (wake != WAKE_FIRE)
                w->phase = PHASE_IDLE;
        pthread_mutex_unlock(&w->lock);
        return wake;
}

void camera_worker_wake(CameraWorker *w) {
        pthread_cond_signal(&w->cond);
}

/* ---- real-time priority, sockets ---- */

void camera_rt_enter(CameraManager *cm, int priority, CameraSched *saved) {
        *saved = (CameraSched) {};
        if (atomic_load_explicit(&cm->rt_denied, memory_order_relaxed))
                return;
        if (pthread_getschedparam(pthread_self(), &saved->policy, &saved->param) != 0)
                return;
        struct sched_param p = { .sched_priority = priority };
        int r = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
        if (r == 0) {
                saved->changed = true;
                return;
        }
        if (!atomic_exchange(&cm->rt_denied, true))
                log_info("Cameras are fired without real-time priority (%s): the trigger skew between cameras "
                         "grows. The unit's LimitRTPRIO=2 and RestrictRealtime=no allow it, unless the kernel's "
                         "real-time group scheduling gives the service's cgroup no cpu.rt_runtime_us budget.",
                         g_strerror(r));
}

void camera_rt_leave(const CameraSched *saved) {
        if (saved->changed)
                (void) pthread_setschedparam(pthread_self(), saved->policy, &saved->param);
}

bool camera_worker_socks_valid(CameraWorker *w) {
        for (size_t i = 0; i < w->n_socks; i++) {
                struct stat st;
                if (fstat(w->socks[i].fd, &st) < 0 || st.st_ino != w->socks[i].ino)
                        return false;
        }
        return true;
}

/* ---- the thread ---- */

static void *worker_main(void *p) {
        CameraWorker *w = p;
        usec_t backoff = 0;

        /* select(1 µs) in libgphoto2's event poll before every request must
         * not sleep the default 50 µs of timer slack on the critical path. */
        (void) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

        w->context = gp_context_new();
        gp_context_set_error_func(w->context, on_context_error, w);
        gp_context_set_cancel_func(w->context, on_context_cancel, w);

        while (!camera_worker_should_stop(w)) {
                if (!w->camera) {
                        g_autofree char *error = NULL;
                        set_state(w, "connecting");
                        if (worker_connect(w, &error) < 0) {
                                close_camera(w);
                                if (camera_worker_should_stop(w))
                                        break;
                                g_autofree char *state = g_strdup_printf("error: %s", error);
                                set_state(w, state);
                                backoff = backoff ? MIN(backoff * 2, BACKOFF_MAX_USEC) : BACKOFF_MIN_USEC;
                                if (worker_wait(w, now_monotonic() + backoff, false) == WAKE_STOP)
                                        break;
                                continue;
                        }
                        if (backoff > 0)
                                log_fields(LOG_INFO, 0, NULL, w->id, NULL, "Camera %s (%s) is back.", w->id, w->port);
                        backoff = 0;
                        pthread_mutex_lock(&w->lock);
                        w->open = true;
                        pthread_mutex_unlock(&w->lock);
                        set_state(w, "ready");
                }

                switch (worker_wait(w, now_monotonic() + CHECK_INTERVAL_USEC, true)) {
                case WAKE_STOP:
                        goto out;
                case WAKE_FIRE:
                        if (camera_worker_fire(w))
                                close_camera(w);
                        break;
                case WAKE_TIMEOUT:
                case WAKE_KICK:
                        w->last_error[0] = 0;
                        int r = camera_worker_drain_events(w, 100);
                        if (r < 0) {
                                g_autofree char *e = camera_gp_error_text(w, r);
                                g_autofree char *state = g_strdup_printf("error: link lost: %s", e);
                                set_state(w, state);
                                close_camera(w);
                        }
                        break;
                }
        }
out:
        close_camera(w);
        gp_context_unref(w->context);
        w->context = NULL;

        pthread_mutex_lock(&w->lock);
        w->exited = true;
        pthread_mutex_unlock(&w->lock);
        camera_manager_notify(w->cm);
        return NULL;
}

int camera_worker_start(CameraWorker *w) {
        sigset_t all, old;
        char name[16];

        /* Signals belong to the event loop thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int r = -pthread_create(&w->thread, NULL, worker_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return r;
        w->started = true;
        g_snprintf(name, sizeof name, "camera-%u", w->number);
        (void) pthread_setname_np(w->thread, name);
        return 0;
}

