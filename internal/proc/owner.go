package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Owner names one process across pid reuse: the host it runs on, its pid and its start time
// (clock ticks since boot, field 22 of /proc/PID/stat). Resources a run leaves behind when it
// is SIGKILLed (a server directory, a database on a shared server) carry their owner, so a
// later run can tell provably abandoned ones from live ones, and never touches the rest.
type Owner struct {
	Host  string
	PID   int
	Start string
}

// Self is this process.
func Self() (Owner, error) {
	host, err := os.Hostname()
	if err != nil {
		return Owner{}, err
	}
	start, err := processStart(os.Getpid())
	if err != nil {
		return Owner{}, err
	}
	return Owner{Host: host, PID: os.Getpid(), Start: start}, nil
}

// String is the record form: "awacompat owner host=H pid=P start=S".
func (o Owner) String() string {
	return fmt.Sprintf("awacompat owner host=%s pid=%d start=%s", o.Host, o.PID, o.Start)
}

// ParseOwner reads a record String wrote; ok is false for anything else.
func ParseOwner(s string) (Owner, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "awacompat owner ")
	if !ok {
		return Owner{}, false
	}
	var o Owner
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "host":
			o.Host = v
		case "pid":
			o.PID, _ = strconv.Atoi(v)
		case "start":
			o.Start = v
		}
	}
	return o, o.Host != "" && o.PID > 0 && o.Start != ""
}

// Gone reports whether the owner is provably gone: it ran on this host, and no process with
// its pid has its start time. An owner on another host is never gone as far as we can tell.
func (o Owner) Gone() bool {
	host, err := os.Hostname()
	if err != nil || host != o.Host {
		return false
	}
	start, err := processStart(o.PID)
	return err != nil || start != o.Start
}

// processStart is the start time of pid in clock ticks since boot.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces; count after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return f[19], nil
}
