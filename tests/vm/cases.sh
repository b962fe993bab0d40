# Cases run inside the VM (tests/vm/run.sh) by busybox sh. Each prints one
# `VM-RESULT PASS|FAIL|SKIP name` line; a failure also prints what rtrace printed.

# A case passes when rtrace printed what it should. On a kernel of the matrix that lacks what
# the script needs, rtrace must refuse it with sema's E0250, naming the construct and the
# feature: the case is then skipped with that reason. Anything else fails, a verifier
# rejection above all.
check() { # name, regex, file with rtrace's output (or a `SKIP: why` line: not on this kernel)
    if grep -Eq "$2" "$3"; then echo "VM-RESULT PASS $1"
    elif grep -q '^SKIP: ' "$3"; then echo "VM-RESULT SKIP $1: $(grep -m1 '^SKIP: ' "$3" | cut -c7-)"
    elif grep -q 'error\[E0250\]' "$3" && ! grep -q 'error\[E04' "$3"; then echo "VM-RESULT SKIP $1: $(grep -m1 'error\[E0250\]' "$3")"
    else echo "VM-RESULT FAIL $1"; sed 's/^/  | /' "$3"; fi
}

# What this kernel can do, as rtrace asks it (docs/kernels.md tabulates these per kernel).
rtrace --info > /tmp/info 2>&1
while read -r line; do echo "VM-INFO $line"; done < /tmp/info

# Reads a file with read(2) through the shell's `read` builtin: busybox cat may use sendfile,
# which never calls vfs_read, so cases on vfs_read would depend on stray reads.
readfile() { while read -r l; do :; done < /cases.sh; }

# Execs a real ELF three times (busybox runs applets like `true` without exec).
execs() { for i in 1 2 3; do /bin/rtrace --version > /dev/null; done; }

# Waits $1 seconds with shell builtins only: `sleep` and `grep` would exec, and the cases count
# execs.
mkfifo /tmp/never
pause() { read -t "$1" x <> /tmp/never; }

# Prints where each thread of process $1 waits: the kernel stack and the wait channel.
hung() {
    echo "rtrace (pid $1) did not exit 30 s after SIGINT"
    for t in /proc/$1/task/*; do
        echo "thread ${t##*/} $(cat $t/comm) wchan=$(cat $t/wchan)"
        sed 's/^/    /' $t/stack
    done
}

# run_traced NAME REGEX WORKLOAD PROGRAM: starts rtrace, waits until every probe is attached
# (compiling and attaching under TCG take a while), runs the workload, stops rtrace with SIGINT
# (Ctrl-C) and checks what it printed. No timer ends a case: under TCG a slow guest could fire
# one before the workload ran.
run_traced() {
    traced /tmp/out "$3" rtrace -v -e "$4"
    check "$1" "$2" /tmp/out
}

# traced OUT WORKLOAD COMMAND...: starts the tracer, waits until every probe is attached
# (compiling and attaching under TCG take a while), runs the workload once, stops the tracer
# with SIGINT (Ctrl-C) and waits for it. No timer ends a case: under TCG a slow guest could
# fire one before the workload ran. The workload never runs while probes attach or detach.
traced() {
    out=$1 work=$2
    shift 2
    # Emptied here, not only by the background job's redirection, which happens later in the
    # forked child: the wait below would otherwise see the previous case's "Attached" and
    # send SIGINT before the tracer handles it (the hang once seen in kretprobe_reads_retval).
    : > "$out"
    "$@" > "$out" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 600 ]; do
        # "Attached N probes" is printed once every probe is live.
        case "$(while read -r l; do echo "$l"; done < "$out")" in *Attached*) break ;; esac
        # The tracer ended before attaching (refused the script): nothing to wait for.
        kill -0 $pid 2>/dev/null || break
        pause 0.1
        i=$((i + 1))
    done
    pause 0.2
    $work
    pause 0.5
    kill -INT $pid 2>/dev/null
    # A tracer that does not exit within 30 s fails its case (with its output and where each of
    # its threads waits) instead of hanging the VM.
    (pause 30; hung $pid >> "$out"; kill -9 $pid 2>/dev/null) &
    watchdog=$!
    wait $pid
    kill $watchdog 2>/dev/null
}

run_traced kprobe_counts_execs '^@execs: 3$' execs \
    'kprobe:__x64_sys_execve /comm == "sh"/ { @execs = count(); }'

# A wildcard over the renamed helper (do_execveat_common.isra.0 on 6.1).
run_traced kprobe_wildcard_matches_the_renamed_function '^@\[kprobe:do_execveat_common[^]]*\]: 3$' execs \
    'kprobe:do_execveat_common* /comm == "sh"/ { @[probe] = count(); }'

# Two kprobes on one function run in the script's order (rtrace attaches them in reverse,
# since the kernel runs the newest first): the second sees the first's write.
run_traced kprobes_on_one_function_run_in_script_order '^@order: 12$' execs \
    'kprobe:__x64_sys_execve /comm == "sh"/ { @order = 1; } kprobe:__x64_sys_execve /comm == "sh"/ { @order = @order * 10 + 2; }'

# kretprobe: a successful execve returns 0 (in the new program).
run_traced kretprobe_reads_retval '^@\[0\]: 3$' execs \
    'kretprobe:__x64_sys_execve /comm == "rtrace"/ { @[retval] = count(); }'

# arg0 of vfs_read is a struct file *, a kernel address: every call lands in key true.
run_traced kprobe_reads_arg0 '^@kernel_pointer\[true\]: [0-9]+$' readfile \
    'kprobe:vfs_read { @kernel_pointer[arg0 > 0xffff000000000000] = count(); }'
if grep -q '^@kernel_pointer\[false\]' /tmp/out; then echo "VM-RESULT FAIL kprobe_arg0_is_never_a_user_value"; else echo "VM-RESULT PASS kprobe_arg0_is_never_a_user_value"; fi

# A latency pair: entry and return of vfs_read.
run_traced kprobe_kretprobe_pair_measures_latency '^@calls: [1-9][0-9]*$' readfile \
    'kprobe:vfs_read { @s[tid] = nsecs; } kretprobe:vfs_read /@s[tid]/ { @ns = hist(nsecs - @s[tid]); @calls = count(); delete(@s[tid]); }'

# func in a kretprobe is the function's address, a ksym as in bpftrace: a map of ksym(0) takes
# it (xfsdist.bt), and it prints as the function's name.
run_traced kretprobe_func_is_a_ksym '^@\[vfs_read\]: [1-9][0-9]*$' readfile \
    'BEGIN { @name[0] = ksym(0); } kretprobe:vfs_read { @name[tid] = func; @[@name[tid]] = count(); }'

# A wildcard over several functions is one kprobe_multi link where the kernel has it (5.18+),
# one perf event each on 5.10. `func` is the function that fired (bpf_get_func_ip), for
# kprobes and kretprobes; -v names the one program of the link ("... and N more").
run_traced kprobe_wildcard_func_is_the_function_that_fired '^@\[vfs_read\]: [1-9][0-9]*$' readfile \
    'kprobe:vfs_rea* { @[func] = count(); }'
# (One `check` line: tests/vm.rs counts the cases by their lines.)
want='verifier: kprobe:vfs_read: '
if grep -q 'kprobe_multi: yes' /tmp/info; then want='verifier: kprobe:vfs_rea[^ ]* and [0-9]+ more'; fi
check kprobe_wildcard_programs_follow_kprobe_multi "$want" /tmp/out
run_traced kretprobe_wildcard_func_and_retval '^@\[vfs_read, true\]: [1-9][0-9]*$' readfile \
    'kretprobe:vfs_rea* { @[func, (int64)retval >= 0] = count(); }'
# Hundreds of functions attach, and detach when the trace ends.
run_traced kprobe_wildcard_over_hundreds_of_functions '^Attached [1-9][0-9][0-9]+ probes$' readfile \
    'kprobe:tcp_* { @ = count(); }'
check kprobe_wildcard_over_hundreds_of_functions_ends_and_prints '^@: [0-9]+$' /tmp/out

# do_execve does not exist on 6.1: the error names what to use instead.
rtrace -e 'kprobe:do_execve { @ = count(); }' > /tmp/out 2>&1
check missing_function_names_alternatives 'tracepoint:syscalls:sys_enter_execve' /tmp/out

# The rest of rtrace on a second kernel version: fused syscall tracepoints, listing.
run_traced syscall_tracepoints_fused_on_6_1 '^@\[tracepoint:syscalls:sys_enter_execve\]: 3$' execs \
    'tracepoint:syscalls:sys_enter_* /comm == "sh"/ { @[probe] = count(); }'
rtrace -l 'kprobe:vfs_*' > /tmp/out 2>&1; rtrace -l '*sys_enter_execve' >> /tmp/out 2>&1
check listing_shows_kprobes_and_tracepoints 'kprobe:vfs_read' /tmp/out
check listing_shows_tracepoints 'tracepoint:syscalls:sys_enter_execve' /tmp/out

# override() needs CONFIG_BPF_KPROBE_OVERRIDE, which Debian's kernel lacks: the error says so.
rtrace --unsafe -e 'kprobe:__x64_sys_mkdir { override(-13); }' > /tmp/out 2>&1
check override_names_the_missing_kernel_option 'CONFIG_BPF_KPROBE_OVERRIDE' /tmp/out

# An iterator on a second kernel version: rtrace's own two threads; the trace ends by itself.
rtrace -e 'iter:task /ctx->task->tgid == pid/ { @[ctx->task->comm] = count(); }' > /tmp/out 2>&1
check iter_task_on_6_1 '^@\[rtrace\]: 2$' /tmp/out

# fentry/fexit (BPF trampolines, which the host refuses): arguments and return values typed
# from the function's BTF prototype.
run_traced fentry_reads_typed_args_through_btf '^@\[cases.sh\]: [1-9][0-9]*$' readfile \
    'fentry:vfs_read { @[str(args.file->f_path.dentry->d_name.name)] = count(); }'
run_traced fexit_reads_typed_retval '^@bytes: [1-9][0-9]*$' readfile \
    'fexit:vfs_read /retval > 0/ { @bytes = sum(retval); }'
run_traced fentry_wildcard_and_func '^@\[vfs_read\]: [1-9][0-9]*$' readfile \
    'fentry:vfs_rea? { @[func] = count(); }'
# A pointer argument is a kernel object to the verifier in fentry, which refuses `&`, `%` and
# negation on one: codegen reads it as a number for those.
# `args` as a value in fentry: the record of the function's parameters (bpftrace's
# builtin.print_args_in_fentry).
run_traced fentry_args_whole_is_a_record '^@\[\{ \.file = 0x[0-9a-f]+, \.buf = 0x[0-9a-f]+, \.count = [0-9]+, \.pos = 0x[0-9a-f]+ \}\]: 1$' readfile \
    'fentry:vfs_read /comm == "sh"/ { @[args] = 1; }'

# A parameter after a struct passed by value: __sys_bpf's `size` follows `bpfptr_t uattr` (16
# bytes, two context words, since 5.14), and `retval` follows them all (bpftrace's
# probe.fexit_large_args). Read from the wrong word, `size` would be uattr's `is_kernel`, 0.
# `arg3` is that same fourth context word (three parameters, four words).
bpf_calls() { rtrace --info > /dev/null 2>&1; }
if rtrace -l 'fentry:__sys_bpf' 2>/dev/null | grep -q __sys_bpf; then
    traced /tmp/out bpf_calls rtrace -v -e 'fexit:__sys_bpf /comm == "rtrace"/ { @[args.size > 0 && args.size <= 256, (int64)retval >= -4095, arg3 == args.size] = count(); }'
else
    echo "SKIP: this kernel's BTF has no __sys_bpf (5.10's is inlined)" > /tmp/out
fi
check fexit_args_after_a_struct_argument '^@\[true, true, true\]: [1-9][0-9]*$' /tmp/out

run_traced fentry_pointer_arguments_take_arithmetic '^@low\[true, true\]: [1-9][0-9]*$' readfile \
    'fentry:vfs_read { @low[(args.file & 0xf) < 16, -arg0 % 8 < 8] = count(); }'

# path() is bpf_d_path, which the kernel allows in fentry of a few functions (filp_close is
# one on 6.1): the shell's redirection of cases.sh closes it. Elsewhere the verifier's refusal
# is explained.
run_traced fentry_path_names_the_closed_file '^@\[/cases.sh\]: [1-9][0-9]*$' readfile \
    'fentry:filp_close { @[path(args.filp->f_path)] = count(); }'
rtrace -e 'fentry:vfs_read { @[path(args.file->f_path)] = count(); }' > /tmp/out 2>&1
check path_where_the_kernel_refuses_it_is_explained 'runs only in iterators and in fentry/fexit probes' /tmp/out

# percpu_kaddr needs per-CPU data symbols in kallsyms, which Debian's kernel has and this host's
# lacks: the kernel resolves CPU 1's runqueue.
rtrace -e 'BEGIN { printf("cpu%d\n", ((struct rq *)percpu_kaddr("runqueues", 1))->cpu); exit(); }' > /tmp/out 2>&1
check percpu_kaddr_resolves_a_kernel_variable '^cpu1$' /tmp/out

# skboutput: fentry:ip_rcv sees each loopback packet from its IP header on. The first call
# writes whole packets (the file must be raw IP, the first packet IPv4); the second drops 52
# bytes, the IP and TCP headers (with timestamps) of the packet that carries the payload,
# whose record must then hold exactly the 13 bytes sent.
ip link set lo up
# The listener is started in the background and the client retried until it connects: under
# TCG on a loaded host the listener can take more than a second to be up (a fixed pause once
# left socket_cookie_in_fentry with no connection at all).
tcp_hello() {
    nc -l -p 9999 > /dev/null &
    n=0
    until echo hello-rtrace | nc -w 1 127.0.0.1 9999 2>/dev/null || [ $n -ge 40 ]; do
        pause 0.25
        n=$((n + 1))
    done
}
run_traced skboutput_returns_0 '^@ret\[0\]: [1-9][0-9]*$' tcp_hello \
    'fentry:ip_rcv { @ret[skboutput("/tmp/rx.pcap", args.skb, args.skb->len, 0)] = count(); skboutput("/tmp/payload.pcap", args.skb, 1500, 52); }'
xxd -p /tmp/rx.pcap | tr -d '\n' > /tmp/hex
check skboutput_writes_raw_ip_packets '^d4c3b2a1020004000000000000000000ffff000065000000.{32}45.*68656c6c6f2d7274726163650a' /tmp/hex
xxd -p /tmp/payload.pcap | tr -d '\n' > /tmp/hex
check skboutput_drops_the_offset '0d0000000d00000068656c6c6f2d7274726163650a' /tmp/hex

# socket_cookie in fentry, bpftrace's example: the receiving socket of an established TCP
# connection has a cookie (made on first use).
run_traced socket_cookie_in_fentry '^@nonzero\[true\]: [1-9][0-9]*$' tcp_hello \
    'fentry:tcp_rcv_established { @nonzero[socket_cookie(args.sk) > 0] = count(); }'

# Before Linux 6.4 a map's update returned an `int` that reached the program unextended, so a
# 64-bit sign test missed every failure: a full map must still be reported on 6.1.
rtrace -e 'let @h = hash(3); BEGIN { @h[1] = 1; @h[2] = 2; @h[3] = 3; @h[4] = 4; @h[5] = 5; exit(); }' > /tmp/out 2>&1
check full_map_updates_are_counted_on_6_1 "WARNING: Map full; can't update element: 2 map updates failed" /tmp/out

# Strings are 1024 bytes by default where the kernel takes map keys over 512 bytes (Linux
# 5.11), else 64: `@[str(...)]` runs on every kernel. A script that asks for 1024 is refused
# on 5.10 by sema, naming what the kernel lacks.
rtrace --dry-run -e 'config = { max_strlen = 1024 } tracepoint:syscalls:sys_enter_openat { @[str(args.filename)] = count(); }' > /tmp/out 2>&1
echo "status $?" >> /tmp/out
want='^status 0$'
case "$(uname -r)" in 5.10*) want='needs hash map keys over 512 bytes' ;; esac
check big_string_keys_are_refused_before_5_11 "$want" /tmp/out

# kaddr of a variable: Debian's kallsyms lists variables (CONFIG_KALLSYMS_ALL; this host's does
# not). The load averages of examples/tools/loads.bt, read from `avenrun`.
rtrace -e 'interval:ms:200 { $a = (uint64 *)kaddr("avenrun"); printf("load %d.%03d\n", $a[0] >> 11, (($a[0] & 2047) * 1000) >> 11); exit(); }' > /tmp/out 2>&1
check kaddr_reads_the_load_average '^load [0-9]+\.[0-9]{3}$' /tmp/out

# comm(pid): kfunc calls (bpf_task_from_pid, 6.2), linked by the loader by BTF id; older
# kernels refuse it in sema (E0250, a SKIP).
rtrace -e 'iter:task { @same = comm(pid) == comm; @none = comm(0x7fffffff); exit(); }' > /tmp/out 2>&1
check comm_of_a_pid_calls_kfuncs '^@same: true$' /tmp/out

# write_user (bpf_probe_write_user), which this host's kernel refuses (lockdown): rtrace
# opening one script is turned into rtrace opening another. The path is in memory the process
# wrote (a busybox applet's argv may be a page shared copy-on-write with the shell, which
# the helper cannot write).
echo 'BEGIN { printf("script a\n"); exit(); }' > /tmp/wu-a.bt
echo 'BEGIN { printf("script b\n"); exit(); }' > /tmp/wu-b.bt
run_a() { rtrace /tmp/wu-a.bt > /tmp/wu-out 2>&1; }
traced /tmp/out run_a rtrace --unsafe -v -e 'tracepoint:syscalls:sys_enter_openat /str(args.filename) == "/tmp/wu-a.bt"/ { $new = "/tmp/wu-b.bt"; printf("written %d\n", write_user(args.filename, $new, 13)); }'
while read -r l; do echo "it ran $l"; done < /tmp/wu-out >> /tmp/out
check write_user_redirects_an_open '^it ran script b$' /tmp/out

# Scripts compiled on the host for its kernel, run here by the runner without LLVM
# (rtrace-run); the same script compiled here must print the same lines. The workload reads a
# file and forks.
reads_and_forks() { readfile; echo x | cat > /dev/null; }
portable() { # name
    traced /tmp/run reads_and_forks rtrace-run /portable/$1.rtc
    traced /tmp/here reads_and_forks rtrace /portable/$1.bt
    grep -v '^Attached' /tmp/run | grep . > /tmp/a
    grep -v '^Attached' /tmp/here | grep . > /tmp/b
    if [ -s /tmp/a ] && cmp -s /tmp/a /tmp/b; then echo "VM-RESULT PASS portable_$1"; while read -r l; do echo "  | $l"; done < /tmp/a
    elif grep -q 'error\[E0250\]' /tmp/here; then echo "VM-RESULT SKIP portable_$1: $(grep -m1 'error\[E0250\]' /tmp/here)"
    else echo "VM-RESULT FAIL portable_$1"; sed 's/^/  | runner: /' /tmp/run; sed 's/^/  | here:   /' /tmp/here; fi
}
if [ -d /portable ]; then
portable tasks
portable fentry
portable fork
fi

# What every program cost the verifier (RTRACE_VERIFIER_STATS, set by /init): the host keeps
# each far below the limit.
while read -r line; do echo "VM-VERIFIER $line"; done < /tmp/verifier
