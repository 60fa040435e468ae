// Command pginit is PID 1 of the PostgreSQL test image (internal/testimages): it does what
// the official postgres image's entrypoint does for awacompat's use, with no shell in the
// image. As root it creates the data folder for uid 999, runs initdb there as that user with
// the superuser postgres and the password from POSTGRES_PASSWORD (scram-sha-256 over TCP),
// then runs postgres as that user on 0.0.0.0:5432 with the options it was given after
// "postgres" (docker run IMAGE postgres -c fsync=off ...), forwards SIGTERM and SIGINT to it
// as a fast shutdown, and exits with it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

const (
	uid, gid = 999, 999
	data     = "/var/lib/postgresql/data"
	bin      = "/pg/bin/"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pginit:", err)
		os.Exit(1)
	}
}

func run() error {
	pw := os.Getenv("POSTGRES_PASSWORD")
	if pw == "" {
		return fmt.Errorf("POSTGRES_PASSWORD is not set")
	}
	for _, d := range []string{data, "/tmp/pg"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	pwfile := "/tmp/pg/pw"
	if err := os.WriteFile(pwfile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Chown(pwfile, uid, gid); err != nil {
		return err
	}
	initdb := as(exec.Command(bin+"initdb", "-D", data, "-U", "postgres", "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"))
	if err := initdb.Run(); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	os.Remove(pwfile)
	if err := os.WriteFile(data+"/pg_hba.conf", []byte("local all all trust\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"), 0o600); err != nil {
		return err
	}
	args := []string{"-D", data, "-k", "/tmp/pg", "-c", "listen_addresses=*", "-p", "5432"}
	if len(os.Args) > 1 && os.Args[1] == "postgres" {
		args = append(args, os.Args[2:]...)
	}
	pg := as(exec.Command(bin+"postgres", args...))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if err := pg.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	go func() {
		for range sigs {
			pg.Process.Signal(syscall.SIGINT)
		}
	}()
	err := pg.Wait()
	fmt.Fprintln(os.Stderr, "pginit: postgres exited:", err)
	return nil
}

func as(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = []string{"LC_ALL=C", "HOME=/var/lib/postgresql"}
	return cmd
}
