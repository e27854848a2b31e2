/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between the camera manager's files: camera.c (the camera table,
 * libgphoto2's lists, USB hot-plug, life cycle), camera-fire.c (Fire: the
 * loop's side — arm, barrier, cork, results, deadline — and the camera
 * thread's — capture, wait, download), camera-fire-at.c (FireAt: the
 * coordinator thread that releases the cameras for an instant) and
 * camera-worker.c (the camera thread: connect, identity, clock, checks,
 * reconnect; PTP/IP workarounds).
 *
 * Ownership: the loop thread owns CameraManager and creates, retires and
 * frees CameraWorkers. A worker thread touches only its own Camera and
 * GPContext, the fields of its CameraWorker marked "lock", and the barrier
 * word. libgphoto2's process-wide state (module loading, the abilities and
 * port lists, the settings cache) is touched only under gphoto_lock. */

#include <glib.h>
#include <netinet/in.h>
#include <gphoto2/gphoto2.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <systemd/sd-device.h>

#include "camera.h"

typedef enum WorkerPhase {
        PHASE_IDLE,   /* connecting, backing off, checking: not at the barrier */
        PHASE_PARKED, /* camera open, waiting for a Fire or the next check */
        PHASE_ARMED,  /* chosen for a Fire: at the barrier, then capturing */
} WorkerPhase;

/* A socket of an open PTP/IP camera, so that a stuck read can be cut short. */
typedef struct CameraSocket {
        int fd;
        ino_t ino;
} CameraSocket;

typedef struct CameraManager CameraManager;
typedef struct CameraWorker CameraWorker;

struct CameraWorker {
        CameraManager *cm;
        unsigned number;           /* for the thread's name */
        char *port;                /* gphoto2 port path, immutable */
        CameraAbilities abilities; /* immutable; model[0] == 0: detect at connect (explicit usb:) */

        pthread_t thread;
        bool started;

        pthread_mutex_t lock;
        pthread_cond_t cond;       /* CLOCK_MONOTONIC */
        /* lock: */
        WorkerPhase phase;
        bool stop;                 /* end the thread */
        bool kick;                 /* stop backing off, connect now */
        bool exited;               /* the thread is done; join it */
        bool open;                 /* the camera is connected */
        bool set_clock;            /* [Trigger] SetClock=, as of the last (re)load */
        char *id;                  /* serial, or the port; NULL until connected once */
        char *model;
        char *state;               /* "connecting", "ready", "error: ..." */
        bool overdue;              /* the Fire it serves gave up on it */
        /* The Fire it is armed for or serves: */
        uint32_t fire_seq;
        usec_t fire_timeout;       /* µs after the release */
        nsec_t fire_at;            /* FireAt: the CLOCK_REALTIME instant; 0 for Fire */
        bool corked;               /* its command waits in its corked socket for the uncork */
        char *download_root;       /* NULL: leave the images on the camera */
        /* Its answer: */
        uint32_t result_seq;       /* == fire_seq once answered */
        FireResult result;

        CameraSocket socks[4];     /* lock: PTP/IP: the open camera's sockets */
        size_t n_socks;            /* lock */

        atomic_bool quit;          /* == stop, readable without the lock */

        /* Loop thread only: */
        bool in_fire;              /* referenced by the running Fire */
        bool retired;              /* gone from the configuration */

        /* Its own thread only: */
        CameraAbilities detected;  /* explicit usb: port: the model found there */
        Camera *camera;
        GPContext *context;
        char last_error[256];      /* last message libgphoto2 reported on context */
        _Atomic uint32_t at_barrier; /* fire_seq once waiting at the barrier */
};

struct CameraManager {
        Manager *manager;
        GPtrArray *workers; /* CameraWorker*, in configuration (or detection) order */
        GPtrArray *retired; /* CameraWorker* whose thread is still ending */
        unsigned next_number;

        int efd; /* workers → loop: a result, a state change, an exit */
        sd_event_source *efd_source;

        /* libgphoto2's lists, loaded once; only under gphoto_lock. */
        bool gphoto_ready;
        CameraAbilitiesList *abilities;
        GPPortInfoList *portinfo;

        /* Ports=auto: USB hot-plug. */
        sd_device_monitor *monitor;
        sd_event_source *detect_timer;

        /* The barrier: workers armed for Fire number seq wait until go == seq. */
        _Atomic uint32_t go;
        _Atomic int64_t released_ns; /* CLOCK_MONOTONIC instant of the last release */
        _Atomic int64_t fire_time;   /* CLOCK_REALTIME fire instant of the last release */
        _Atomic uint32_t cancelled;  /* seq of a Fire called off after arming */
        uint32_t seq;
        atomic_bool rt_denied;       /* SCHED_FIFO refused once: do not ask again */

        struct Fire *fire; /* the running Fire, or NULL */
        bool stopping;
};

typedef struct FireAt FireAt;

/* A Fire or FireAt, from the call to done(); loop thread only. */
typedef struct Fire {
        uint32_t seq;
        char shot_id[SHOT_ID_MAX];
        nsec_t t;               /* the fire instant, CLOCK_REALTIME */
        usec_t released;        /* CLOCK_MONOTONIC; 0 until the cameras are released */
        double timeout_sec;
        size_t n, n_pending;
        CameraWorker **workers; /* every camera while it may be armed, then NULL where not fired */
        FireResult *results;
        bool *answered;
        sd_event_source *timer;
        FireDoneFn done;
        void *userdata;

        /* FireAt only: */
        bool is_at;
        FireAt *at;             /* its coordinator, until the loop takes in the release */
        int64_t *uncorked_ns;   /* per camera: the uncork that sent its queued command; 0: none */
        char *note;             /* added to every result's message (the clock's state), or NULL */
} Fire;

/* Every process-wide libgphoto2 operation (camera init/exit/free, list
 * loading, detection, port library loading, settings) runs under it. */
extern pthread_mutex_t gphoto_lock;

/* camera.c */
/* Joins and frees retired workers whose thread has ended. */
void camera_manager_reap(CameraManager *cm);

/* camera-fire.c */
/* Something came through the eventfd: collect answers, maybe finish. */
void camera_fire_notify(CameraManager *cm);
/* Finishes the running Fire now (the daemon stops). */
void camera_fire_abort(CameraManager *cm, const char *why);

/* A Fire of every camera in the table, none armed yet; each is marked
 * in_fire so that it outlives a reload until the Fire is done. */
Fire *camera_fire_new(CameraManager *cm, uint32_t seq, FireDoneFn done, void *userdata);
/* The cameras were released at `released` (CLOCK_MONOTONIC µs): the
 * unarmed ones get their reason, the deadline is set, and cm->fire is f. */
void camera_fire_started(CameraManager *cm, Fire *f, const bool *armed, usec_t released);
/* Answers f at once: every camera "not fired", for why (nothing was
 * released). */
void camera_fire_not_fired(CameraManager *cm, Fire *f, const char *why);
/* Answers the running Fire with what it has, why for the cameras that did
 * not answer. */
void camera_fire_finish(CameraManager *cm, const char *why);

/* The steps of a release, shared by Fire and FireAt; each takes the
 * cameras as an array and the worker lock of each in turn. */
/* One pass: arms the parked cameras; asks those backing off to connect now
 * when kick; *ret_settling counts those busy with a short check, worth a
 * new pass soon. Returns the number newly armed. */
size_t camera_arm(CameraWorker **workers, size_t n, uint32_t seq, usec_t timeout, const char *root, nsec_t fire_at,
                  bool kick, bool *armed, size_t *ret_settling);
/* Until every armed camera waits at the barrier, for at most max µs;
 * false when one did not come (it passes through late). */
bool camera_wait_at_barrier(CameraWorker **workers, size_t n, uint32_t seq, const bool *armed, usec_t max);
/* Corks the command sockets of the armed PTP/IP cameras; returns how many. */
size_t camera_cork(CameraWorker **workers, size_t n, const bool *armed, bool *corked);
/* Until each corked camera's command waits in its socket, or `until`
 * (CLOCK_MONOTONIC µs); loaded[i] says which of its sockets hold one. */
void camera_gather(CameraWorker **workers, size_t n, const bool *corked, unsigned *loaded, usec_t until);
/* Uncorks: the sockets holding a command back to back, then the others;
 * ret_uncorked_ns (may be NULL) gets the CLOCK_REALTIME instant right after
 * each camera's loaded sockets went. */
void camera_uncork(CameraWorker **workers, size_t n, const bool *corked, const unsigned *loaded,
                   int64_t *ret_uncorked_ns);

/* camera-fire-at.c */
/* The coordinator said it is done: takes in the release (opens the shot,
 * starts collecting answers). Returns false while it still waits. */
bool camera_fire_at_take(CameraManager *cm, Fire *f);
/* Calls the coordinator off and joins it; returns true when it had
 * released the cameras already (then camera_fire_at_take() goes on). */
bool camera_fire_at_cancel(Fire *f);
void camera_fire_at_free(FireAt *at);

/* The camera's thread, in camera-fire.c: released at the barrier, fires,
 * waits, downloads, answers. Returns true when the camera must be
 * re-opened. */
bool camera_worker_fire(CameraWorker *w);
/* Wakes every worker waiting at the barrier. */
void camera_barrier_release(CameraManager *cm, uint32_t seq);
/* Sleeps until the CLOCK_REALTIME instant t (ns). */
void camera_sleep_until(nsec_t t);

/* camera-worker.c */
static inline bool camera_worker_should_stop(CameraWorker *w) {
        return atomic_load_explicit(&w->quit, memory_order_relaxed);
}
/* libgphoto2's error, with what it told the worker's context. */
char *camera_gp_error_text(CameraWorker *w, int r);
/* Reads and drops pending events; < 0: the link is gone. */
int camera_worker_drain_events(CameraWorker *w, unsigned max);
/* Real-time priority for the calling thread around the critical path, when
 * the service may have it (LimitRTPRIO=, no RestrictRealtime=); after the
 * first refusal it is not asked for again. */
typedef struct CameraSched {
        bool changed;
        int policy;
        struct sched_param param;
} CameraSched;
void camera_rt_enter(CameraManager *cm, int priority, CameraSched *saved);
void camera_rt_leave(const CameraSched *saved);
/* "ptpip:ADDR[:PORT[:EVENTPORT]]", as libgphoto2's ptp2 parses it. */
bool camera_parse_ptpip(const char *port, struct in_addr *addr, uint16_t *cmd, uint16_t *evt);
/* Under w->lock: the recorded sockets are still the camera's. */
bool camera_worker_socks_valid(CameraWorker *w);

int camera_worker_start(CameraWorker *w);
/* Wakes a parked or backing-off worker (stop, kick, arm); w->lock held. */
void camera_worker_wake(CameraWorker *w);
/* Cuts a stuck PTP/IP camera's link (shutdown of its sockets) so that its
 * worker gets an error at once instead of after libgphoto2's own timeout.
 * Called with w->lock held. */
void camera_worker_abort_io(CameraWorker *w);
/* File descriptor 0 open (on /dev/null if it was closed): see
 * fix_ptpip_jpgfd() in camera-worker.c. */
void camera_keep_fd0(void);
/* Tells the loop that something changed (a result, an exit). */
void camera_manager_notify(CameraManager *cm);

/* "ptpip:…" ports use the "PTP/IP Camera" driver. */
static inline bool port_is_ptpip(const char *port) {
        return g_str_has_prefix(port, "ptpip:");
}
static inline bool port_is_usb(const char *port) {
        return g_str_has_prefix(port, "usb:");
}

/* Makes a camera-supplied string safe as a folder or file name: only
 * [A-Za-z0-9._+,:-], other bytes become '_', no leading '.', '-' or '~',
 * at most max bytes. NULL when nothing usable is left. */
char *camera_safe_name(const char *s, size_t max);

void fire_result_clear(FireResult *r);
