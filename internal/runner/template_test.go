package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
)

func TestTemplateOutcome(t *testing.T) {
	cell := matrix.Cell{ID: "canonical.upgraded-from-py-0.5.7.lifecycle.producer=a.worker=b", Engine: matrix.Canonical, SchemaPath: matrix.SchemaPath{From: "py-0.5.7"}, Scenario: "lifecycle"}
	refused := &migrate.RefusedError{Cmd: "awa migrate", Message: "storage transition not finalized (state: canonical)"}

	out := templateOutcome(cell, &template{err: refused})
	if out.Verdict != matrix.Refused || out.Error == nil || out.Error.Message != refused.Message || out.Error.Class != "CLI" {
		t.Fatalf("refused migrate: %+v", out)
	}
	if !strings.Contains(out.Detail, "before writing anything") || !strings.Contains(out.Detail, "the scenario did not run") {
		t.Errorf("detail %q must say nothing was written and the scenario did not run", out.Detail)
	}

	wrote := &migrate.RefusedError{Cmd: "awa migrate", Message: "boom", Changes: []string{"awa.schema_version changed"}}
	if out := templateOutcome(cell, &template{err: wrote}); out.Verdict != matrix.Hazard || !strings.Contains(out.Detail, "still wrote") {
		t.Errorf("a refusal that wrote: %+v", out)
	}

	broken := errors.New("staged transition with awa 0.6.2: storage prepare: exit status 3")
	if out := templateOutcome(cell, &template{err: broken}); out.Verdict != matrix.Error || !strings.Contains(out.Detail, "exit status 3") || out.Error != nil {
		t.Errorf("a failed step is an error with its command: %+v", out)
	}
}

func TestJudgeRefusalPattern(t *testing.T) {
	e := matrix.Expectation{Verdict: matrix.Refused, Error: "storage transition not finalized.*awa storage prepare"}
	out := templateOutcome(matrix.Cell{Scenario: "target_migrate"}, &template{err: &migrate.RefusedError{Message: "storage transition not finalized (state: canonical): run `awa storage prepare --engine queue_storage` first"}})
	if ok, _ := judge(e, out); !ok {
		t.Errorf("a matching refusal was judged not OK: %+v", out)
	}
	out.Error.Message = "schema is at v43 but this binary supports up to v40"
	if ok, _ := judge(e, out); ok {
		t.Error("a refusal with another message was judged OK")
	}
}
