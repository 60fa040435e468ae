package workflows

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rhysd/actionlint"
)

// workflowsDir is the repository's workflow folder, from this package's folder.
const workflowsDir = "../../.github/workflows"

func TestWorkflowsLint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(workflowsDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := filepath.Glob(filepath.Join(workflowsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, yaml...)
	if len(files) == 0 {
		t.Fatalf("no workflow files in %s", workflowsDir)
	}
	opts := &actionlint.LinterOptions{}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck not on PATH: run: scripts are not shell-checked")
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	// A project gives actionlint the repository root, so local reusable workflows
	// (uses: ./.github/workflows/x.yml) are resolved and their inputs checked.
	root, err := filepath.Abs(filepath.Join(workflowsDir, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out.Reset()
			errs, err := l.LintFile(f, proj)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Errorf("%s:%d:%d: %s [%s]", filepath.Base(e.Filepath), e.Line, e.Column, e.Message, e.Kind)
			}
		})
	}
}
