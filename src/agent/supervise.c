/* supervise.c: the components' processes. Each runs `sh -c CMD` in its
 * install directory, in its own process group, and dies with the agent
 * (PR_SET_PDEATHSIG), so a kill -9 of the agent never leaves a stray set
 * running beside the one it starts next. Crashes restart with exponential
 * backoff; three crashes in a row without a run that lasted mark the
 * component broken. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"

#define STABLE_RUN_S 30.0 /* a run this long resets the crash count */
#define MAX_BACKOFF_S 60.0

static pid_t spawn(ag_agent *a, const char *cmd, const char *dir, const char *log_path,
                   const char *component, const char *const *extra_argv) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* Child: only async-signal-safe calls until exec. */
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log >= 0) {
    dup2(log, 1);
    dup2(log, 2);
  }
  if (dir && chdir(dir) != 0) _exit(127);
  if (component) setenv("LEDGE_COMPONENT", component, 1);
  if (dir) setenv("LEDGE_COMPONENT_DIR", dir, 1);
  setenv("LEDGE_DEVICE", a->config.device, 1);
  setenv("LEDGE_AGENT_SOCKET", a->sock_path, 1);
  if (extra_argv) {
    execv(extra_argv[0], (char *const *)extra_argv);
  } else {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
  }
  _exit(127);
}

static void log_path_for(ag_agent *a, const char *name, char *out, size_t size) {
  snprintf(out, size, "%s/logs/%s.log", a->config.data_dir, name);
}

static bool start_child(ag_agent *a, ag_child *c) {
  char log[1200];
  log_path_for(a, c->component, log, sizeof log);
  c->pid = spawn(a, c->cmd, c->dir, log, c->component, NULL);
  c->started = ag_now();
  if (c->pid < 0) {
    c->pid = 0;
    ag_log(AG_LOG_ERROR, "%s: cannot start: %s", c->component, strerror(errno));
    return false;
  }
  ag_log(AG_LOG_INFO, "%s: started (pid %d)", c->component, (int)c->pid);
  return true;
}

bool ag_children_start(ag_agent *a, const ag_deployment *d, char *err) {
  a->n_children = 0;
  for (int i = 0; i < d->n_components; i++) {
    const ag_component *comp = &d->components[i];
    if (!comp->run_cmd[0]) continue;
    ag_child *c = &a->children[a->n_children++];
    memset(c, 0, sizeof *c);
    snprintf(c->component, sizeof c->component, "%s", comp->name);
    snprintf(c->dir, sizeof c->dir, "%s/components/%s/%s", a->config.data_dir, comp->name,
             comp->version);
    snprintf(c->cmd, sizeof c->cmd, "%s", comp->run_cmd);
    snprintf(c->recover_cmd, sizeof c->recover_cmd, "%s", comp->recover_cmd);
    c->shutdown_timeout_s = comp->shutdown_timeout_s;
    c->backoff_s = 1;
    if (!start_child(a, c)) return ag_fail(err, "%s: cannot start its run command", comp->name);
  }
  return true;
}

/* Waits for pid up to timeout seconds; true if it exited (status stored). */
static bool wait_exit(pid_t pid, double timeout_s, int *status) {
  double end = ag_now() + timeout_s;
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (ag_now() >= end) return false;
    poll(NULL, 0, 20);
  }
}

void ag_children_stop(ag_agent *a) {
  /* SIGTERM to every group first, so that they shut down in parallel. */
  for (int i = 0; i < a->n_children; i++)
    if (a->children[i].pid > 0) kill(-a->children[i].pid, SIGTERM);
  for (int i = 0; i < a->n_children; i++) {
    ag_child *c = &a->children[i];
    if (c->pid <= 0) continue;
    int status;
    if (!wait_exit(c->pid, c->shutdown_timeout_s, &status)) {
      ag_log(AG_LOG_WARN, "%s: did not stop within %.0f s; killing it", c->component,
             c->shutdown_timeout_s);
      kill(-c->pid, SIGKILL);
      wait_exit(c->pid, 5, &status);
    }
    ag_log(AG_LOG_INFO, "%s: stopped", c->component);
    c->pid = 0;
  }
  a->n_children = 0;
}

double ag_children_tick(ag_agent *a) {
  double now = ag_now(), next = 1e9;
  for (int i = 0; i < a->n_children; i++) {
    ag_child *c = &a->children[i];
    if (c->pid > 0) {
      int status;
      pid_t r = waitpid(c->pid, &status, WNOHANG);
      if (r != c->pid) continue;
      c->pid = 0;
      kill(-r, SIGKILL); /* whatever the shell left behind in its group */
      double ran = now - c->started;
      if (ran >= STABLE_RUN_S) {
        c->crashes = 0;
        c->backoff_s = 1;
      }
      c->crashes++;
      if (WIFEXITED(status))
        ag_log(AG_LOG_WARN, "%s: exited with status %d after %.1f s (crash %d)", c->component,
               WEXITSTATUS(status), ran, c->crashes);
      else
        ag_log(AG_LOG_WARN, "%s: killed by signal %d after %.1f s (crash %d)", c->component,
               WTERMSIG(status), ran, c->crashes);
      if (c->recover_cmd[0]) {
        char err[AG_ERR_SIZE], log[1200];
        log_path_for(a, c->component, log, sizeof log);
        if (ag_run_command(a, c->recover_cmd, c->dir, 60, log, c->component, err)) c->crashes = 0;
      }
      if (c->crashes >= 3 && !c->broken) {
        c->broken = true;
        ag_log(AG_LOG_ERROR, "%s: broken (three crashes without recovery)", c->component);
      }
      c->restart_at = now + c->backoff_s;
      c->backoff_s = c->backoff_s * 2 > MAX_BACKOFF_S ? MAX_BACKOFF_S : c->backoff_s * 2;
    }
    if (c->pid == 0) {
      if (now >= c->restart_at)
        start_child(a, c);
      else if (c->restart_at - now < next)
        next = c->restart_at - now;
    }
  }
  return next;
}

void ag_kill_strays(ag_agent *a) {
  /* Every process the agent starts carries LEDGE_AGENT_SOCKET=<its socket>
   * in its environment, and so do their descendants: what survives from a
   * previous run (a grandchild orphaned by a kill -9 of the agent) is found
   * by it and killed before anything new starts. */
  char marker[1200];
  int mlen = snprintf(marker, sizeof marker, "LEDGE_AGENT_SOCKET=%s", a->sock_path);
  DIR *proc = opendir("/proc");
  if (!proc) return;
  struct dirent *e;
  pid_t self = getpid();
  while ((e = readdir(proc))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 1 || pid == self) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    static char env[65536];
    ssize_t n = read(fd, env, sizeof env - 1);
    close(fd);
    if (n <= 0) continue;
    env[n] = 0;
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(env + off) + 1) {
      if (!strncmp(env + off, marker, (size_t)mlen) && env[off + mlen] == 0) {
        ag_log(AG_LOG_WARN, "killing pid %ld left over from a previous run", pid);
        kill((pid_t)pid, SIGKILL);
        break;
      }
    }
  }
  closedir(proc);
}

bool ag_run_command(ag_agent *a, const char *cmd, const char *dir, double timeout_s,
                    const char *log_path, const char *component, char *err) {
  pid_t pid = spawn(a, cmd, dir, log_path, component, NULL);
  if (pid < 0) return ag_fail(err, "cannot run '%s': %s", cmd, strerror(errno));
  double end = ag_now() + timeout_s;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (ag_now() >= end) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return ag_fail(err, "'%s' did not finish within %.0f s", cmd, timeout_s);
    }
    ag_pump(a);
    poll(NULL, 0, 20);
  }
  kill(-pid, SIGKILL);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status))
    return ag_fail(err, "'%s' exited with status %d", cmd, WEXITSTATUS(status));
  return ag_fail(err, "'%s' was killed by signal %d", cmd, WTERMSIG(status));
}

/* The last non-empty line of a log file, for a failure's reason. */
static void last_line(const char *path, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n) snprintf(out, size, "%s", line);
  }
  fclose(f);
}

bool ag_health_model(ag_agent *a, const char *model_path, double timeout_s, const char *log_path,
                     char *err) {
  unlink(log_path);
  const char *argv[] = {"/proc/self/exe", "--health-model", model_path, NULL};
  /* /proc/self/exe is resolved by the child after fork, still this binary. */
  pid_t pid = spawn(a, NULL, NULL, log_path, NULL, argv);
  if (pid < 0) return ag_fail(err, "cannot start the health check: %s", strerror(errno));
  double end = ag_now() + timeout_s;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (ag_now() >= end) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return ag_fail(err, "no inference within %.0f s", timeout_s);
    }
    ag_pump(a);
    poll(NULL, 0, 20);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  char why[400];
  last_line(log_path, why, sizeof why);
  return ag_fail(err, "health check failed: %s", why[0] ? why : "the check process crashed");
}
