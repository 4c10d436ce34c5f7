"""Seccomp: the system calls an app may make, from the appc seccomp isolators or rkt's default.

With no isolator an app runs under rkt's default whitelist (Docker's default profile without its
argument filters). `os/linux/seccomp-retain-set` allows only its set (plus what starting and
ending a process needs); `os/linux/seccomp-remove-set` blocks only its set. A blocked call kills
the process with SIGSYS, or fails with the isolator's `errno`. The filter is compiled to BPF
with libseccomp (bound in `stage1.libseccomp`) while the pod is set up, and loaded with seccomp(2)
as the very last step before execve.
"""

from __future__ import annotations

import errno as _errno
import os

from stage1 import kernel, libseccomp

RETAIN_SET = "os/linux/seccomp-retain-set"
REMOVE_SET = "os/linux/seccomp-remove-set"


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Docker's default whitelist as rkt shipped it (seccomp_wildcards.go), sorted; rkt's default.
DOCKER_DEFAULT_WHITELIST = _names("""
    _llseek _newselect accept accept4 access alarm arch_prctl bind brk capget capset chdir
    chmod chown chown32 chroot clock_getres clock_gettime clock_nanosleep clone close connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group
    faccessat fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
    fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
    fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
    futimesat get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid
    getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername
    getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
    getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid
    getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    io_destroy io_getevents io_setup io_submit ioctl ioprio_get ioprio_set ipc kill lchown
    lchown32 lgetxattr link linkat listen listxattr llistxattr lremovexattr lseek lsetxattr
    lstat lstat64 madvise memfd_create mincore mkdir mkdirat mknod mknodat mlock mlock2
    mlockall mmap mmap2 modify_ldt mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
    nanosleep newfstatat open openat pause personality pipe pipe2 poll ppoll prctl pread64
    preadv prlimit64 pselect6 pwrite64 pwritev read readahead readlink readlinkat readv recv
    recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2
    restart_syscall rmdir rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
    rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam sched_setscheduler
    sched_yield seccomp select semctl semget semop semtimedop send sendfile sendfile64
    sendmmsg sendmsg sendto set_robust_list set_thread_area set_tid_address setfsgid
    setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
    setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
    setreuid32 setrlimit setsid setsockopt setuid setuid32 setxattr shmat shmctl shmdt shmget
    shutdown sigaltstack signalfd signalfd4 sigreturn socket socketcall socketpair splice stat
    stat64 statfs statfs64 symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee
    tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_settime
    timerfd_create timerfd_gettime timerfd_settime times tkill truncate truncate64 ugetrlimit
    umask uname unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid waitpid
    write writev
""")

# Docker's default blacklist as rkt shipped it; rkt's default blacklist.
DOCKER_DEFAULT_BLACKLIST = _names("""
    _sysctl acct add_key adjtimex bpf clock_adjtime clock_settime create_module
    delete_module finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp
    kexec_file_load kexec_load keyctl lookup_dcookie mbind mount move_pages name_to_handle_at
    nfsservctl open_by_handle_at perf_event_open pivot_root process_vm_readv
    process_vm_writev ptrace query_module quotactl reboot request_key set_mempolicy setns
    settimeofday stime swapoff swapon sysfs umount umount2 unshare uselib userfaultfd ustat
    vm86 vm86old
""")

# Calls that today's libc makes at startup or in common paths, which rkt's 2016 list predates
# (glibc >= 2.35 registers rseq in every program: without it everything dies of SIGSYS); Docker's
# current default allows them all.
_SINCE_2016 = _names("""
    clock_getres_time64 clock_gettime64 clock_nanosleep_time64 clone3 close_range
    epoll_pwait2 faccessat2 futex_time64 futex_waitv io_pgetevents io_pgetevents_time64
    membarrier mq_timedreceive_time64 mq_timedsend_time64 openat2 pidfd_getfd pidfd_open
    pidfd_send_signal pkey_alloc pkey_free pkey_mprotect ppoll_time64 preadv2
    pselect6_time64 pwritev2 recvmmsg_time64 rseq rt_sigtimedwait_time64
    sched_rr_get_interval_time64 semtimedop_time64 statx timer_gettime64 timer_settime64
    timerfd_gettime64 timerfd_settime64 utimensat_time64
""")

# rkt added these on ARM; harmless names elsewhere (libseccomp skips absent calls)
_ARM_EXTRA = _names("arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush set_tls sync_file_range2")

DOCKER_DEFAULT_WHITELIST += _SINCE_2016
RKT_DEFAULT_WHITELIST = DOCKER_DEFAULT_WHITELIST + _ARM_EXTRA
RKT_DEFAULT_BLACKLIST = DOCKER_DEFAULT_BLACKLIST

# Always allowed under a retain-set: what a process needs to exec and to end (systemd's
# implicit whitelist), plus the few calls the Python runtime makes between loading the
# filter and execve (freeing memory, waking threads).
LIFECYCLE = _names("""
    execve execveat exit exit_group rt_sigreturn sigreturn getrlimit brk mmap munmap futex
    restart_syscall
""")

# systemd's syscall groups behind rkt's `@systemd/<group>` wildcards (rkt handed them to
# SystemCallFilter=; here they are systemd's lists, as of about v245, written out)
_SYSTEMD_GROUPS = {
    "clock": _names("adjtimex clock_adjtime clock_adjtime64 clock_settime clock_settime64 settimeofday stime"),
    "default-whitelist": _names("""
        clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
        clock_nanosleep_time64 execve exit exit_group futex futex_time64 get_robust_list
        get_thread_area getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
        getpgid getpgrp getpid getppid getresgid getresgid32 getresuid getresuid32 getrlimit
        getsid gettid gettimeofday getuid getuid32 membarrier nanosleep pause prlimit64
        restart_syscall rseq rt_sigreturn sched_yield set_robust_list set_thread_area
        set_tid_address set_tls sigreturn time ugetrlimit
    """),
    "mount": _names("""
        chroot fsconfig fsmount fsopen fspick mount mount_setattr move_mount open_tree
        pivot_root umount umount2
    """),
    "network-io": _names("""
        accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
        recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown
        socket socketcall socketpair
    """),
    "obsolete": _names("""
        _sysctl afs_syscall bdflush break create_module ftime get_kernel_syms getpmsg gtty idle
        lock mpx prof profil putpmsg query_module security sgetmask ssetmask stty sysfs tuxcall
        ulimit uselib ustat vserver
    """),
    "privileged": _names("""
        _sysctl bpf capset chown chown32 chroot clone delete_module fanotify_init fanotify_mark
        fchown fchown32 fchownat finit_module init_module ioperm iopl kexec_file_load kexec_load
        lchown lchown32 nfsservctl open_by_handle_at pciconfig_iobase pciconfig_read
        pciconfig_write pivot_root quotactl reboot s390_pci_mmio_read s390_pci_mmio_write
        setdomainname setfsuid setfsuid32 setgroups setgroups32 sethostname setresuid
        setresuid32 setreuid setreuid32 setuid setuid32 swapoff swapon unshare vhangup
    """),
    "process": _names("""
        arch_prctl capget clone clone3 execveat fork getrusage kill pidfd_open
        pidfd_send_signal prctl rt_sigqueueinfo rt_tgsigqueueinfo setns swapcontext tgkill
        times tkill unshare vfork wait4 waitid waitpid
    """),
    "raw-io": _names("""
        ioperm iopl pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read
        s390_pci_mmio_write
    """),
}

_WILDCARDS = {
    "@rkt/default-whitelist": RKT_DEFAULT_WHITELIST,
    "@rkt/default-blacklist": RKT_DEFAULT_BLACKLIST,
    "@docker/default-whitelist": DOCKER_DEFAULT_WHITELIST,
    "@docker/default-blacklist": DOCKER_DEFAULT_BLACKLIST,
    **{f"@systemd/{group}": names for group, names in _SYSTEMD_GROUPS.items()},
}


class Filter:
    """What to load: `allow` is a whitelist (default action blocks) or, if `allow` is False,
    `syscalls` is a blacklist (default action allows). `errno` 0 means kill with SIGSYS."""

    __slots__ = ("allow", "syscalls", "errno")

    def __init__(self, allow: bool, syscalls: frozenset[str], errno: int = 0):
        self.allow, self.syscalls, self.errno = allow, frozenset(syscalls), errno

    def _key(self):
        return (self.allow, self.syscalls, self.errno)

    def __eq__(self, other):
        return isinstance(other, Filter) and self._key() == other._key()

    def __repr__(self):
        kind = "whitelist" if self.allow else "blacklist"
        return f"Filter({kind} of {len(self.syscalls)}, errno={self.errno})"


def _errno_number(iso_name: str, name) -> int:
    """An upper-case errno name (EPERM) -> its number; none -> 0 (kill instead)."""
    if name in (None, ""):
        return 0
    if not isinstance(name, str) or not name.isupper() or not isinstance(getattr(_errno, name, None), int):
        raise ValueError(f"{iso_name}: unknown errno {name!r}")
    return getattr(_errno, name)


def _seccomp_isolator(isolators):
    found = None
    for iso in isolators or ():
        if not isinstance(iso, dict):
            raise ValueError("isolator is not a JSON object")
        if iso.get("name") in (RETAIN_SET, REMOVE_SET):
            if found is not None:
                raise ValueError("too many seccomp isolators specified")
            found = iso
    return found


def _expand(iso_name: str, members) -> tuple[set[str], str | None]:
    """Names and wildcards -> (syscall names, "all"/"empty" when an appc wildcard decides)."""
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise ValueError(f"{iso_name}: set must be a non-empty list of syscall names")
    names: set[str] = set()
    for member in members:
        if member in ("@appc.io/all", "@appc.io/empty"):
            return set(), member.rsplit("/", 1)[1]
        if member.startswith("@"):
            if member not in _WILDCARDS:
                raise ValueError(f"{iso_name}: unsupported seccomp wildcard {member!r}")
            names.update(_WILDCARDS[member])
        elif member.isascii() and member.replace("_", "").isalnum():
            names.add(member)
        else:
            raise ValueError(f"{iso_name}: invalid syscall name {member!r}")
    return names, None


def compute_filter(isolators, disabled: bool = False) -> Filter | None:
    """The filter for an app's isolators, or None for no filter at all. Pure (testable)."""
    iso = _seccomp_isolator(isolators)
    if disabled:
        return None
    if iso is None:
        return Filter(True, frozenset(RKT_DEFAULT_WHITELIST))
    value = iso.get("value")
    if not isinstance(value, dict):
        raise ValueError(f"{iso['name']}: value must be an object with a set")
    err = _errno_number(iso["name"], value.get("errno"))
    names, wildcard = _expand(iso["name"], value.get("set"))
    if iso["name"] == RETAIN_SET:
        if wildcard == "all":
            return None
        if wildcard == "empty":  # as rkt: nothing retained means rkt's default whitelist
            return Filter(True, frozenset(RKT_DEFAULT_WHITELIST), err)
        _check_known(iso["name"], names)
        return Filter(True, frozenset(names | set(LIFECYCLE)), err)
    if wildcard is not None:  # as rkt: "@appc.io/empty" opts in to rkt's default whitelist
        return Filter(True, frozenset(RKT_DEFAULT_WHITELIST), err)
    _check_known(iso["name"], names)
    return Filter(False, frozenset(names), err)


def _check_known(iso_name: str, names: set[str]) -> None:
    """Names libseccomp knows on some architecture; a typo must not silently filter nothing."""
    wildcard_names = set().union(*_WILDCARDS.values())
    unknown = sorted(n for n in names - wildcard_names - set(LIFECYCLE)
                     if libseccomp.syscall_number(n) == libseccomp.NR_SCMP_ERROR)
    if unknown:
        raise ValueError(f"{iso_name}: unknown syscall {', '.join(unknown)}")


def preload() -> None:
    """Open libseccomp while the host's filesystem is still visible (before pivot_root)."""
    libseccomp.open_library()


def build(flt: Filter) -> libseccomp.Context:
    """Compile `flt` into a libseccomp filter (not loaded)."""
    block = libseccomp.SCMP_ACT_ERRNO(flt.errno) if flt.errno else libseccomp.SCMP_ACT_KILL_PROCESS
    default, action = (block, libseccomp.SCMP_ACT_ALLOW) if flt.allow else (libseccomp.SCMP_ACT_ALLOW, block)
    sf = libseccomp.Context(default)
    try:
        # Native ABI only: any call through another one (32-bit int 0x80, x32) kills the
        # process. Stricter than systemd, which filtered each local ABI by name, and 7x
        # cheaper to compile.
        sf.set_attr(libseccomp.SCMP_FLTATR_ACT_BADARCH, libseccomp.SCMP_ACT_KILL_PROCESS)
        # the caller decides about no_new_privs; libseccomp would otherwise always set it
        sf.set_attr(libseccomp.SCMP_FLTATR_CTL_NNP, 0)
        for name in sorted(flt.syscalls):
            number = libseccomp.syscall_number(name)
            if number < 0:
                # unknown names were refused by compute_filter; wildcards may name calls that
                # only other architectures have
                continue
            sf.add_rule(action, number)
    except BaseException:
        sf.release()
        raise
    return sf


def _has_sys_admin() -> bool:
    effective, _, _ = kernel.current().capget()
    return bool(effective >> 21 & 1)


DEFAULT_FILTER = Filter(True, frozenset(RKT_DEFAULT_WHITELIST))


def compiled_default_name() -> str:
    """The file of the stage1 rootfs that holds DEFAULT_FILTER as `stage1.build` compiled it,
    named after the machine and the libseccomp that made it: no other one reads it."""
    return f"seccomp-default-{os.uname().machine}-{libseccomp.version()}.bpf"


def prepare(isolators, disabled: bool = False, compiled_in: str | None = None) -> bytes | None:
    """The app's filter as a BPF program, None for no filter: made while the pod is still
    being set up, so that the app's go is followed by its exec at once. rkt's default filter,
    most apps' (libseccomp takes ~2 ms for its ~350 rules), is read from the directory
    `compiled_in` (the stage1 rootfs) when stage1.build compiled it there for this machine."""
    flt = compute_filter(isolators, disabled)
    if flt is None:
        return None
    if compiled_in is not None and flt == DEFAULT_FILTER:
        try:
            with open(f"{compiled_in}/{compiled_default_name()}", "rb") as f:
                program = f.read()
            if program and len(program) % 8 == 0:  # whole struct sock_filter entries
                return program
        except OSError:
            pass  # built without libseccomp, or for another one: compile it here
    sf = build(flt)
    try:
        return sf.export()
    finally:
        sf.release()


def load_filter(isolators, disabled: bool = False, user_is_root: bool = True,
                prepared: bytes | None = None) -> bool:
    """Install the app's filter (the program `prepared` by `prepare`, else compiled now) in
    this process, as libseccomp's seccomp_load would; call it right before execve (nothing
    after it may need a blocked call). A non-root app gets no_new_privs, as rkt did; so does
    any process that lacks CAP_SYS_ADMIN, because the kernel requires one of the two. Whether
    a filter was loaded."""
    program = prepared if prepared is not None else prepare(isolators, disabled)
    if program is None:
        return False
    if not user_is_root or not _has_sys_admin():
        kernel.current().prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
    kernel.current().load_seccomp(program)
    return True
