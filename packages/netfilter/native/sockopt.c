/*
 * Socket options Node's net module does not expose: IP_TRANSPARENT (accept TPROXY'd connections
 * for non-local addresses; bind to a non-local source) and SO_MARK (fwmark for policy routing).
 * IP_TRANSPARENT must be set before bind(), and net.Server binds internally, so this addon also
 * creates, binds and listens raw TCP sockets whose fd is then handed to server.listen({ fd }).
 *
 * Plain N-API (node_api.h), built with the system C compiler by scripts/build-native.mjs.
 * Errors are thrown as Error with `code` = the errno name (EPERM, EADDRINUSE, ...).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#ifndef SO_MARK
#define SO_MARK 36
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[4352]; /* room for a full path plus the errno text */
  const char *name = strerrorname_np(err);
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", message);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "EINVAL", "missing arguments");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected an integer");
    return 0;
  }
  return 1;
}

static napi_value make_int(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

/* socket(family) -> fd; family is 4 or 6. Close-on-exec so spawned children do not inherit it. */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t family;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &family)) return NULL;
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  return make_int(env, fd);
}

/* setsockoptInt(fd, level, name, value) */
static napi_value js_setsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name, value;
  if (!get_args(env, info, 4, argv) || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &level) ||
      !get_int(env, argv[2], &name) || !get_int(env, argv[3], &value))
    return NULL;
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) return throw_errno(env, "setsockopt", errno);
  return NULL;
}

/* getsockoptInt(fd, level, name) -> value */
static napi_value js_getsockopt_int(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, level, name, value = 0;
  socklen_t len = sizeof value;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &level) ||
      !get_int(env, argv[2], &name))
    return NULL;
  if (getsockopt(fd, level, name, &value, &len) != 0) return throw_errno(env, "getsockopt", errno);
  return make_int(env, value);
}

/* bind(fd, address, port): the family follows the address text. */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, port;
  char address[INET6_ADDRSTRLEN + 1];
  size_t length;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], &fd) || !get_int(env, argv[2], &port)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], address, sizeof address, &length) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected an address string");
    return NULL;
  }
  struct sockaddr_storage storage;
  memset(&storage, 0, sizeof storage);
  socklen_t size;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    size = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    size = sizeof *v6;
  } else {
    napi_throw_type_error(env, "EINVAL", "not an IP address");
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)&storage, size) != 0) return throw_errno(env, "bind", errno);
  return NULL;
}

/* listen(fd, backlog) */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, backlog;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &backlog)) return NULL;
  if (listen(fd, backlog) != 0) return throw_errno(env, "listen", errno);
  return NULL;
}

/* close(fd): only for fds this addon created and Node never took over. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return NULL;
  if (close(fd) != 0) return throw_errno(env, "close", errno);
  return NULL;
}

/*
 * enterNetns(path) -> fd of the calling thread's previous network namespace. Sockets created
 * until leaveNetns(fd) belong to the namespace at `path` (e.g. /run/netns/<name>) for their
 * whole life. Per thread (setns(2)); callers keep the window synchronous.
 */
static napi_value js_enter_netns(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[4096];
  size_t length;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected a path");
    return NULL;
  }
  int previous = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (previous < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(previous);
    return throw_errno(env, path, err);
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(previous);
    return throw_errno(env, "setns", err);
  }
  close(target);
  return make_int(env, previous);
}

/* leaveNetns(fd): back to the namespace enterNetns returned, and close that fd. */
static napi_value js_leave_netns(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return NULL;
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0) return throw_errno(env, "setns (restore)", err);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"socket", js_socket}, {"setsockoptInt", js_setsockopt_int}, {"getsockoptInt", js_getsockopt_int},
      {"bind", js_bind},     {"listen", js_listen},                {"close", js_close},
      {"enterNetns", js_enter_netns}, {"leaveNetns", js_leave_netns},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, functions[i].name, fn);
  }
  const struct {
    const char *name;
    int32_t value;
  } constants[] = {
      {"SOL_SOCKET", SOL_SOCKET},     {"SO_MARK", SO_MARK},       {"SO_REUSEADDR", SO_REUSEADDR},
      {"SOL_IP", IPPROTO_IP},         {"IP_TRANSPARENT", IP_TRANSPARENT},
      {"SOL_IPV6", IPPROTO_IPV6},     {"IPV6_TRANSPARENT", IPV6_TRANSPARENT},
  };
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    napi_set_named_property(env, exports, constants[i].name, make_int(env, constants[i].value));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
